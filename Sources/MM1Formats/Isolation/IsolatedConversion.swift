import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A reader that turns its input into a private safetensors file through a C library that may crash or
/// loop on a hostile file (libhdf5 1.10 does both), and so runs that work in a child process of the tool:
/// a crash or a hang becomes a typed error instead of taking the tool down.
///
/// Each such reader is one row (``hdf5``). The tool runs any row by name through one hidden subcommand
/// (`mm1conv __reader-worker NAME SRC OUT`, see ``runAsWorker(_:to:)``) once it has called
/// ``runInChildProcesses(of:)`` with its own executable; library use without the tool converts in the
/// calling process.
public struct IsolatedConversion: Sendable {
    /// The row's name on the worker's command line.
    public let name: String
    /// Converts in this process: source → safetensors file; returns warnings. `limitingMemory` is set in
    /// the worker, which may cap its own address space.
    let convertInProcess: @Sendable (_ source: String, _ output: String, _ limitingMemory: Bool) throws -> [String]
    /// The worker's report of a refusal (JSON for stderr), or nil when the error is not this reader's.
    let encodeFailure: @Sendable (FormatError) -> Data?
    /// The parent's reading of that report.
    let decodeFailure: @Sendable (Data, _ source: String) -> FormatError?
    /// The reason for a worker that died of a signal or exited without a report.
    let crashed: @Sendable (String) -> FormatError.Reason
    /// The reason for a worker stopped after `seconds`.
    let timedOut: @Sendable (_ seconds: Int) -> FormatError.Reason
    /// Seconds the worker may take on an input of this many bytes.
    let timeLimit: @Sendable (_ fileBytes: UInt64) -> Int

    /// Every row, for the worker subcommand.
    public static let all: [IsolatedConversion] = [.hdf5]

    /// The row called `name`, or nil.
    public static func named(_ name: String) -> IsolatedConversion? { all.first { $0.name == name } }

    /// The hidden subcommand's name.
    public static let workerCommand = "__reader-worker"

    private static let worker = Mutex<String?>(nil)

    /// Makes every isolated conversion of this process run in a child process of `executable` (the tool
    /// itself, which must dispatch ``workerCommand`` to ``runAsWorker(_:to:)``); nil converts in this process.
    public static func runInChildProcesses(of executable: String?) {
        worker.withLock { $0 = executable }
    }

    /// The executable set by ``runInChildProcesses(of:)``, if any.
    public static var workerExecutable: String? { worker.withLock { $0 } }

    /// Converts `source` into the safetensors file `output`: in a child process of `executable` (by default
    /// the one set by ``runInChildProcesses(of:)``), or in this process when there is none. The child is
    /// stopped when it runs past the row's time limit.
    /// - Returns: warnings from reading.
    /// - Throws: ``FormatError`` naming `source` (the reader's refusal, a crash or a time-out), or the
    ///   error of starting the child.
    public func convert(_ source: String, to output: String, executable: String? = IsolatedConversion.workerExecutable) throws -> [String] {
        guard let executable else { return try convertInProcess(source, output, false) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [Self.workerCommand, name, source, output]
        let errors = PipeReader(), out = PipeReader()
        process.standardError = errors.pipe
        process.standardOutput = out.pipe
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        errors.start()
        out.start()
        let limit = timeLimit(Self.fileBytes(source))
        if finished.wait(timeout: .now() + .seconds(limit)) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            throw FormatError(timedOut(limit), file: source)
        }
        let stderrData = errors.finish(), stdoutData = out.finish()
        if process.terminationReason == .uncaughtSignal {
            throw FormatError(crashed("signal \(process.terminationStatus)"), file: source)
        }
        guard process.terminationStatus == 0 else {
            if let failure = decodeFailure(stderrData, source) { throw failure }
            throw FormatError(crashed("exit status \(process.terminationStatus): \(String(decoding: stderrData.prefix(300), as: UTF8.self))"), file: source)
        }
        return String(decoding: stdoutData, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// What the worker subcommand does: converts in this process with memory limits, and returns the
    /// warnings, or the refusal report to write to stderr (the worker then exits with status 65).
    /// - Throws: any error that is not this reader's refusal (the worker then fails as the tool would).
    public func runAsWorker(_ source: String, to output: String) throws -> Result<[String], WorkerRefusal> {
        do {
            return .success(try convertInProcess(source, output, true))
        } catch let error as FormatError {
            guard let report = encodeFailure(error) else { throw error }
            return .failure(WorkerRefusal(report: report))
        }
    }

    /// A refusal by the worker: its report, for stderr.
    public struct WorkerRefusal: Error, Sendable {
        public let report: Data
    }

    /// The size of the file at `path` (0 when it cannot be read; opening it reports why).
    static func fileBytes(_ path: String) -> UInt64 {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
    }

    /// Drains one of the worker's pipes on a background queue, so that neither pipe can fill up and block
    /// the worker while the parent waits for it.
    final class PipeReader: @unchecked Sendable {
        let pipe = Pipe()
        private var data = Data()
        private let done = DispatchGroup()

        func start() {
            done.enter()
            DispatchQueue.global().async { [self] in
                data = pipe.fileHandleForReading.readDataToEndOfFile()
                done.leave()
            }
        }

        /// Everything the worker wrote (waits for the end of the pipe).
        func finish() -> Data {
            done.wait()
            return data
        }
    }
}

extension IsolatedConversion {
    /// HDF5 files, through libhdf5 (see ``HDF5Input``).
    public static let hdf5 = IsolatedConversion(
        name: "hdf5",
        convertInProcess: { source, output, limitingMemory in try HDF5Input.convertInProcess(source, to: output, limitingMemory: limitingMemory) },
        encodeFailure: { error in
            guard case .hdf5(let violation) = error.reason else { return nil }
            return try? JSONEncoder().encode(HDF5Input.WorkerFailure(violation: violation, dataset: error.tensor))
        },
        decodeFailure: { data, source in
            (try? JSONDecoder().decode(HDF5Input.WorkerFailure.self, from: data)).map { FormatError(.hdf5($0.violation), file: source, tensor: $0.dataset) }
        },
        crashed: { .hdf5(.readerCrashed($0)) },
        timedOut: { .hdf5(.readerTimedOut(seconds: $0)) },
        timeLimit: { HDF5Input.timeLimit(fileBytes: $0) })
}
