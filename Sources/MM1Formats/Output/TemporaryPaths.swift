import Foundation
import MM1Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every temporary file or folder this process is writing (staging folders, atomic files' temporary
/// names, output locks, decompressed copies), so that an interrupted run (SIGINT, SIGTERM) removes them
/// before it exits: nothing half-written is left behind. A killed run (SIGKILL) cannot clean up; its
/// leftovers carry `.tmp-PID-` names and never sit at a final path.
package enum TemporaryPaths {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: Set<String> = []
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    nonisolated(unsafe) private static var interrupted = false

    /// Records `path` for removal on interruption. Register a path before creating it: once an
    /// interrupt is being handled, the registering thread is parked here for good, so nothing new is
    /// created while the handler removes what exists and exits.
    package static func register(_ path: String) {
        let parked = lock.withLock { () -> Bool in
            if interrupted { return true }
            paths.insert(path)
            return false
        }
        while parked { sleep(60) }
    }

    /// Forgets `path` (it was renamed into place or removed).
    package static func unregister(_ path: String) { lock.withLock { _ = paths.remove(path) } }

    /// Creates a private folder (mode 0700) in the system's temporary directory, registered for removal.
    package static func makePrivateFolder(prefix: String) throws -> String {
        var template = Array((NSTemporaryDirectory() as NSString).appendingPathComponent("\(prefix)-XXXXXX").utf8CString)
        guard let folder = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw FileSystemError(path: NSTemporaryDirectory(), operation: "mkdtemp", code: errno)
        }
        register(folder)
        return folder
    }

    /// Removes `file` and the private folder holding it (made by ``makePrivateFolder(prefix:)``), with
    /// whatever else is in it (a killed child's temporary file).
    package static func discard(fileIn file: String) {
        unlink(file)
        let folder = (file as NSString).deletingLastPathComponent
        if rmdir(folder) != 0 { try? FileManager.default.removeItem(atPath: folder) }
        unregister(folder)
    }

    /// Removes every registered path now.
    /// Other threads may still be writing into a registered folder while it goes (a file created
    /// between listing and removing it makes the removal fail), so each path is retried a few times.
    package static func removeAll() {
        let all = lock.withLock { paths }
        for path in all {
            for attempt in 0..<20 {
                try? FileManager.default.removeItem(atPath: path)
                if !FileManager.default.fileExists(atPath: path) { break }
                if attempt > 0 { usleep(5_000) }
            }
        }
    }

    /// The interrupt handler's work: no new registrations (their threads park), then three removal
    /// passes a few milliseconds apart, so a path a thread was creating when the signal came goes too.
    static func removeAllForExit() {
        lock.withLock { interrupted = true }
        for _ in 0..<3 {
            removeAll()
            usleep(10_000)
        }
        removeAll()
    }

    /// Installs the handlers: on SIGINT or SIGTERM, remove the registered paths and exit with 128 + the
    /// signal; SIGXFSZ (a file-size limit) is ignored so that the write fails with an error mm1conv reports.
    package static func installSignalHandlers() {
        signal(SIGXFSZ, SIG_IGN)
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global(qos: .userInteractive))
            source.setEventHandler {
                removeAllForExit()
                FileHandle.standardError.write("interrupted: temporary files removed\n".data(using: .utf8)!)
                exit(128 + number)
            }
            source.resume()
            lock.withLock { sources.append(source) }
        }
    }
}

/// An exclusive claim on an output path while it is being written: the file `.NAME.lock` beside it,
/// created atomically and holding the writer's PID. A second writer fails while the first lives; a lock
/// left by a killed process (its PID gone) is taken over.
package final class OutputLock {
    package let path: String

    /// Claims `destination`.
    /// - Throws: ``OutputError/busy(path:pid:)`` when another live process holds it.
    package init(for destination: String) throws {
        let url = URL(fileURLWithPath: destination)
        let path = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".lock"
        // `self.path` is set only once the lock is ours: an init that throws with every property set
        // still runs deinit, which would remove the other writer's lock.
        for _ in 0..<2 {
            // Registered before it exists (see TemporaryPaths.register); forgotten again if another holds it.
            TemporaryPaths.register(path)
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                let pid = Array("\(getpid())\n".utf8)
                _ = pid.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
                self.path = path
                return
            }
            let failure = errno
            TemporaryPaths.unregister(path)
            guard failure == EEXIST else { throw FileSystemError(path: path, operation: "create", code: failure) }
            let owner = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if let owner, owner != getpid(), kill(owner, 0) == 0 || errno == EPERM {
                throw OutputError.busy(path: destination, pid: owner)
            }
            unlink(path)  // stale: its writer is gone
        }
        throw OutputError.busy(path: destination, pid: nil)
    }

    deinit {
        unlink(path)
        TemporaryPaths.unregister(path)
    }
}
