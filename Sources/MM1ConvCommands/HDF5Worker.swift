import ArgumentParser
import Foundation
import MM1Formats
import MM1Graph

/// `mm1conv __hdf5-worker SRC OUT`: the child process that reads an HDF5 file through libhdf5 and writes
/// its datasets as a safetensors file, so that a libhdf5 crash on a hostile file cannot take the tool
/// down. Not for people: the parent passes its arguments and reads a JSON failure from stderr.
struct HDF5Worker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "__hdf5-worker", shouldDisplay: false)

    @Argument var source: String
    @Argument var output: String

    func run() throws {
        do {
            let warnings = try HDF5Input.convertInProcess(source, to: output, limitingMemory: true)
            print(warnings.joined(separator: "\n"), terminator: warnings.isEmpty ? "" : "\n")
        } catch let error as FormatError {
            guard case .hdf5(let violation) = error.reason else { throw error }
            let failure = HDF5Input.WorkerFailure(violation: violation, dataset: error.tensor)
            FileHandleStream.standardError.write(String(decoding: try JSONEncoder().encode(failure), as: UTF8.self))
            throw ExitCode(ExitStatus.dataError)
        }
    }
}
