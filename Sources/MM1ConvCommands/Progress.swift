import Dispatch

/// A progress bar for long operations: bytes done, rate and time left, redrawn at most ten times a
/// second on stderr, and only when stderr is a terminal (so logs and pipes stay clean).
final class ProgressBar {
    private let label: String
    private let total: Int
    private let enabled: Bool
    private let start = DispatchTime.now().uptimeNanoseconds
    private var lastDraw: UInt64 = 0
    private(set) var done = 0

    init(_ label: String, totalBytes: Int, enabled: Bool = FileHandleStream.standardError.isTerminal) {
        self.label = label
        self.total = max(totalBytes, 1)
        self.enabled = enabled
    }

    /// Records `bytes` more done and redraws if due.
    func advance(by bytes: Int) {
        done += bytes
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        if now - lastDraw > 100_000_000 || done >= total {
            lastDraw = now
            FileHandleStream.standardError.write("\r" + Self.line(label: label, done: done, total: total, seconds: Double(now - start) / 1e9) + "\u{1B}[K")
        }
    }

    /// Ends the line.
    func finish() {
        if enabled { FileHandleStream.standardError.write("\n") }
    }

    /// The text of the bar, e.g. `hashing [#####-----]  50%  1.2 GB/2.4 GB  800 MB/s  ETA 2s`.
    static func line(label: String, done: Int, total: Int, seconds: Double) -> String {
        let fraction = min(1, Double(done) / Double(max(total, 1)))
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let rate = seconds > 0 ? Double(done) / seconds : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let percent = String(Int(fraction * 100))
        return "\(label) [\(bar)] \(String(repeating: " ", count: 3 - percent.count))\(percent)%  \(ByteFormat.text(done))/\(ByteFormat.text(total))  \(ByteFormat.text(Int(rate)))/s  ETA \(Int(eta.rounded()))s"
    }
}

/// Human byte counts in SI units, as `ls -h --si` and Hugging Face print them.
enum ByteFormat {
    static func text(_ bytes: Int) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        return "\(rounded) \(units[unit])"
    }
}
