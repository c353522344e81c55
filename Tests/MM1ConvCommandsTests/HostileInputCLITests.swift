import Foundation
import MM1TestSupport
import Testing

/// Issue 20, as a user meets it: a FIFO given as the input, and zstd files whose inner header is no
/// checkpoint, is broken, or declares more than the disk holds. Each run of `mm1conv` has a deadline (a
/// hang is killed and fails the test), a private `TMPDIR` that must be empty afterwards, and a file-size
/// limit (`ulimit -f`) that bounds what it may write: mm1conv ignores SIGXFSZ, so a write past the limit
/// would fail with exit 74 instead of the refusal (65) expected.
@Suite(.serialized, .timeLimit(.minutes(1))) struct HostileInputCLITests {
    struct Run {
        let status: Int32
        let stderr: String
        let seconds: Double
        let timedOut: Bool
    }

    /// Runs `mm1conv arguments` with `TMPDIR=tmpdir`, at most `fileSizeKiB` KiB per written file, killed
    /// after `deadline` seconds.
    static func run(_ arguments: [String], tmpdir: String, fileSizeKiB: Int, deadline: Double = 20) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "ulimit -f \(fileSizeKiB); exec \"$0\" \"$@\"", CommandRunner.executable.path] + arguments
        p.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": tmpdir]) { $1 }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        let start = Date()
        try p.run()
        nonisolated(unsafe) var timedOut = false
        DispatchQueue.global().asyncAfter(deadline: .now() + deadline) {
            guard p.isRunning else { return }
            timedOut = true
            kill(p.processIdentifier, SIGKILL)
        }
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        return Run(status: p.terminationStatus, stderr: text, seconds: seconds, timedOut: timedOut)
    }

    /// A test folder with an empty `tmp/` inside, for TMPDIR.
    static func folder() throws -> (dir: TemporaryDirectory, tmp: String) {
        let dir = try TemporaryDirectory()
        let tmp = dir.file("tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        return (dir, tmp)
    }

    @Test("a FIFO as the input of inspect or import, or as import's config, is refused at once (66), named as not a regular file",
          arguments: ["x.safetensors", "x.gguf", "x.safetensors.zst", "x.h5", "import:x.safetensors", "config:config.json"])
    func fifo(_ spec: String) throws {
        let (dir, tmp) = try Self.folder()
        defer { dir.remove() }
        let name = String(spec.split(separator: ":").last!)
        let fifo = dir.file(name)
        #expect(mkfifo(fifo, 0o600) == 0)
        let sample = Fixtures.root.appendingPathComponent("Samples/tiny-llama").path
        let arguments = spec.hasPrefix("import:") ? ["import", fifo, "--config", "\(sample)/config.json", "--out", dir.file("out.mm1")]
            : spec.hasPrefix("config:") ? ["import", sample, "--config", fifo, "--out", dir.file("out.mm1")]
            : ["inspect", fifo]
        let r = try Self.run(arguments, tmpdir: tmp, fileSizeKiB: 1024, deadline: 10)
        #expect(!r.timedOut, "\(spec): still waiting on the FIFO after 10 s")
        #expect(r.status == 66, "\(spec): status \(r.status), \(r.stderr)")
        #expect(r.stderr.contains("\(name): not a regular file"), "\(spec): \(r.stderr)")
        #expect(r.seconds < 5, "\(spec): \(r.seconds) s")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out.mm1")))
    }

    static let innerCases: [String] = {
        let url = Fixtures.url("malformed/zstd/MANIFEST.json")
        let json = (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any]
        return (json?["cases"] as? [String: Any] ?? [:]).keys.filter { $0.hasPrefix("inner-") }.sorted()
    }()

    @Test("a zstd file whose inner header is no checkpoint, broken or larger than the disk is refused at once, writing nothing",
          arguments: innerCases)
    func innerHeader(_ name: String) throws {
        let (dir, tmp) = try Self.folder()
        defer { dir.remove() }
        let path = Fixtures.path("malformed/zstd/\(name)")
        // A file-size limit of 0: any byte written to the temporary file would fail the run with 74.
        let r = try Self.run(["inspect", path], tmpdir: tmp, fileSizeKiB: 0)
        #expect(!r.timedOut && r.seconds < 10, "\(name): \(r.seconds) s")
        #expect(r.status == 65, "\(name): status \(r.status), \(r.stderr)")
        #expect(r.stderr.split(separator: "\n").filter { $0.hasPrefix("error: ") }.count == 1, "\(name): \(r.stderr)")
        #expect(r.stderr.contains(name), "\(name): \(r.stderr)")
        if name.contains("declares") {
            #expect(r.stderr.contains("free in the temporary folder \(tmp)") && r.stderr.contains("set TMPDIR"), "\(r.stderr)")
        }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: tmp)) == [], "left in TMPDIR")
    }

    @Test("the file-size limit bites: a valid zstd input, which must be written out, fails with 74 under ulimit -f 0 and opens without it")
    func limitControl() throws {
        let (dir, tmp) = try Self.folder()
        defer { dir.remove() }
        let path = Fixtures.path("zstd/tiny-llama/model.streamed.safetensors.zst")
        let limited = try Self.run(["inspect", path], tmpdir: tmp, fileSizeKiB: 0)
        #expect(limited.status == 74, "\(limited.stderr)")
        let free = try Self.run(["inspect", path], tmpdir: tmp, fileSizeKiB: 1024)
        #expect(free.status == 0, "\(free.stderr)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: tmp)) == [], "left in TMPDIR")
    }

    @Test("a valid header followed by 1 GiB of zeros writes no more than the header declares (1 KiB limit)")
    func bombAfterValidHeader() throws {
        let (dir, tmp) = try Self.folder()
        defer { dir.remove() }
        let r = try Self.run(["inspect", Fixtures.path("malformed/zstd/bomb-1gib.zst")], tmpdir: tmp, fileSizeKiB: 1)
        #expect(!r.timedOut && r.seconds < 10, "\(r.seconds) s")
        #expect(r.status == 65 && r.stderr.contains("more bytes than the safetensors header inside declares"), "\(r.status) \(r.stderr)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: tmp)) == [], "left in TMPDIR")
    }
}
