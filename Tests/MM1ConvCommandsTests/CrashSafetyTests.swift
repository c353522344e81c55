import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1TestSupport
import Testing

/// `import` and `quantize` interrupted (SIGINT) or killed (SIGKILL); `import` raced by a second writer or cut
/// short by a file-size limit: the final path holds a complete package or nothing, temporary files go (except after SIGKILL,
/// which no process can clean up after), the input is untouched, and a rerun succeeds.
@Suite(.serialized) struct CrashSafetyTests {
    /// A ~100 MB canonical checkpoint (tiny-dense with a 200,000-token vocabulary) and its config, so an
    /// import takes long enough to be interrupted at many points.
    static func bigCheckpoint(_ dir: TemporaryDirectory) throws -> (source: String, config: String) {
        var config = Preset.preset(.tinyDense).config
        config.language.vocabSize = 200_000
        config.language.imageTokenID = 199_999
        let graph = try MM1Model(graphOf: config)
        var seed: UInt32 = 1
        let entries = graph.specs.map { spec -> (SafetensorsLayout.Entry, [UInt8]) in
            seed = seed &* 1_664_525 &+ 1_013_904_223
            let bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: seed >> 24) & 0x3F, count: spec.shape.elementCount * 4)
            return (.init(name: spec.name, dtype: .f32, shape: spec.shape), bytes)
        }
        let source = dir.file("big.safetensors")
        try writeSafetensors(entries, to: source)
        let configPath = dir.file("big.json")
        try config.jsonData().write(to: URL(fileURLWithPath: configPath))
        return (source, configPath)
    }

    static func start(_ arguments: [String], shell: String? = nil) throws -> Process {
        let p = Process()
        if let shell {
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", shell + " \"$0\" \"$@\"", CommandRunner.executable.path] + arguments
        } else {
            p.executableURL = CommandRunner.executable
            p.arguments = arguments
        }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// The arguments of `command` (import, or quantize to int4) writing `out`.
    static func arguments(_ command: String, _ source: String, _ config: String, _ out: String) -> [String] {
        command == "import" ? ["import", source, "--config", config, "--out", out]
            : ["quantize", source, "--int4", "--no-verify", "--config", config, "--out", out]
    }

    /// Files beside the output that are not the inputs or a complete package.
    static func leftovers(_ dir: TemporaryDirectory) -> [String] {
        dir.contents().filter { $0.contains(".tmp-") || $0.hasSuffix(".lock") }
    }

    @Test("SIGINT at random points: a complete package or none, no temporary files, input unchanged, a rerun succeeds",
          arguments: ["import", "quantize"])
    func interrupted(_ command: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (source, config) = try Self.bigCheckpoint(dir)
        let before = try Hashing.sha256(file: source).digest
        let out = dir.file("out.mm1")
        var outcomes: [Int32] = []
        for delay in [20_000, 80_000, 150_000, 300_000, 600_000] as [useconds_t] {
            try? FileManager.default.removeItem(atPath: out)
            let p = try Self.start(Self.arguments(command, source, config, out))
            usleep(delay)
            p.interrupt()
            p.waitUntilExit()
            outcomes.append(p.terminationStatus)
            if p.terminationStatus == 0 {
                #expect(try PackageIntegrity.check(out).intact)
            } else {
                // 130: the handler cleaned up and exited; a signal death is only possible before it was installed.
                let early = p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGINT
                #expect(p.terminationStatus == 130 || early, "delay \(delay): status \(p.terminationStatus)")
                #expect(!FileManager.default.fileExists(atPath: out), "delay \(delay): a partial package at the final path")
            }
            #expect(Self.leftovers(dir).isEmpty, "delay \(delay): \(Self.leftovers(dir))")
        }
        #expect(outcomes.contains(130), "no run was interrupted mid-way: \(outcomes)")
        #expect(try Hashing.sha256(file: source).digest == before)
        let rerun = try CommandRunner.run(Self.arguments(command, source, config, out) + ["--force"])
        #expect(rerun.status == 0)
        #expect(try PackageIntegrity.check(out).intact)
    }

    @Test("SIGKILL mid-write: never a partial package at the final path, input unchanged; the stale lock is taken over by the rerun",
          arguments: ["import", "quantize"])
    func killed(_ command: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (source, config) = try Self.bigCheckpoint(dir)
        let before = try Hashing.sha256(file: source).digest
        let out = dir.file("out.mm1")
        let p = try Self.start(Self.arguments(command, source, config, out))
        usleep(150_000)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        if FileManager.default.fileExists(atPath: out) { #expect(try PackageIntegrity.check(out).intact) }
        #expect(!FileManager.default.fileExists(atPath: out) || p.terminationReason == .exit)
        #expect(try Hashing.sha256(file: source).digest == before)
        let rerun = try CommandRunner.run(Self.arguments(command, source, config, out) + ["--force"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(try PackageIntegrity.check(out).intact)
        // What SIGKILL leaves is a hidden staging folder (.out.mm1.tmp-PID-…), never the final name.
        #expect(dir.contents().filter { $0.contains(".tmp-") }.allSatisfy { $0.hasPrefix(".out.mm1.tmp-") })
    }

    /// The writer that holds the lock is a live process that is not going to finish while the second
    /// one starts (two real imports raced: on a loaded machine the first could end before the second
    /// looked). Its PID is in the lock, as a running mm1conv's would be.
    @Test("a second writer of the same --out fails (73) while the first lives, even with --force; a lock left by a dead writer is taken over")
    func concurrentWriters() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (source, config) = try Self.bigCheckpoint(dir)
        let out = dir.file("out.mm1")
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sleep")
        holder.arguments = ["60"]
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        let lock = dir.file(".out.mm1.lock")
        #expect(FileManager.default.createFile(atPath: lock, contents: Data("\(holder.processIdentifier)\n".utf8)))
        let second = try CommandRunner.run(["import", source, "--config", config, "--out", out, "--force"])
        #expect(second.status == 73, "\(second.stderr)")
        #expect(second.stderr.contains("is being written by another mm1conv process (pid \(holder.processIdentifier))"))
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(FileManager.default.fileExists(atPath: lock), "the holder's lock is left alone")
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        let third = try CommandRunner.run(["import", source, "--config", config, "--out", out])
        #expect(third.status == 0, "\(third.stderr)")
        #expect(try PackageIntegrity.check(out).intact)
        #expect(!FileManager.default.fileExists(atPath: lock), "the stale lock was taken over and released")
    }

    @Test("a file-size limit (ulimit -f, like a full disk) is an I/O error (74) with nothing left behind")
    func fileSizeLimit() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (source, config) = try Self.bigCheckpoint(dir)
        let out = dir.file("out.mm1")
        let p = try Self.start(["import", source, "--config", config, "--out", out], shell: "ulimit -f 4096; exec")
        p.waitUntilExit()
        #expect(p.terminationStatus == 74, "status \(p.terminationStatus)")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(Self.leftovers(dir).isEmpty, "\(Self.leftovers(dir))")
    }
}
