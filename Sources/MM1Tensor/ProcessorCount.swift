#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many cores this process may use, for splitting bulk work.
public enum ProcessorCount {
    /// Online processors, honouring `MM1CONV_THREADS` when set to a positive number.
    public static let active: Int = {
        if let value = getenv("MM1CONV_THREADS"), let n = Int(String(cString: value)), n > 0 { return n }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()
}
