import CHDF5
import CZstd

/// Versions of the C libraries this build links, for `mm1conv --version` and bug reports.
public enum NativeLibraries {
    /// libzstd's version, e.g. `"1.5.4"`.
    public static var zstdVersion: String { String(cString: ZSTD_versionString()) }

    /// libhdf5's version, e.g. `"1.10.8"`, or `nil` if the library cannot report it.
    public static var hdf5Version: String? {
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        guard H5get_libversion(&major, &minor, &release) >= 0 else { return nil }
        return "\(major).\(minor).\(release)"
    }
}
