import ArgumentParser
import Foundation
import MM1Formats

/// `mm1conv __reader-worker NAME SRC OUT`: the child process in which a reader that goes through a fragile
/// C library (``IsolatedConversion``: HDF5 today) converts SRC into the safetensors file OUT, so that a crash
/// of that library on a hostile file cannot take the tool down. Not for people: the parent passes the
/// arguments, reads warnings from stdout and a refusal report from stderr.
struct ReaderWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: IsolatedConversion.workerCommand, shouldDisplay: false)

    @Argument var reader: String
    @Argument var source: String
    @Argument var output: String

    func run() throws {
        guard let conversion = IsolatedConversion.named(reader) else { throw ValidationError("no isolated reader named '\(reader)'") }
        switch try conversion.runAsWorker(source, to: output) {
        case .success(let warnings):
            print(warnings.joined(separator: "\n"), terminator: warnings.isEmpty ? "" : "\n")
        case .failure(let refusal):
            FileHandleStream.standardError.write(String(decoding: refusal.report, as: UTF8.self))
            throw ExitCode(ExitStatus.dataError)
        }
    }
}
