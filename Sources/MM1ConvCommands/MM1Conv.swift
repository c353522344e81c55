import ArgumentParser
import Foundation
import MM1Conversion
import MM1Formats
import MM1Reference

/// The `mm1conv` command: converts, quantizes, inspects and verifies MM1-family checkpoints.
public struct MM1Conv: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mm1conv",
        abstract: "Convert, inspect and verify MM1-family multimodal checkpoints.",
        discussion: """
            Exit status: 0 success; 1 verify found a stage outside its tolerance; 64 usage error; 65 malformed or inconsistent input; \
            66 input not found; 73 output exists or cannot be created; 74 I/O error; 70 internal error.
            """,
        version: MM1Conv.versionText,
        subcommands: [Inspect.self, Import.self, Quantize.self, Verify.self, Export.self, ReaderWorker.self]
    )

    public init() {}

    /// Prepares process-wide settings before a command runs: HDF5 files are read by a child process of
    /// this executable (`__reader-worker`).
    public static func prepareProcess() {
        IsolatedConversion.runInChildProcesses(of: Bundle.main.executablePath ?? CommandLine.arguments[0])
        TemporaryPaths.installSignalHandlers()
    }

    static var versionText: String {
        _ = try? BLAS.prepare()
        return "mm1conv \(MM1ConvVersion.string) (libzstd \(NativeLibraries.zstdVersion), libhdf5 \(NativeLibraries.hdf5Version ?? "unknown"), \(BLAS.description))"
    }
}
