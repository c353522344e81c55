import ArgumentParser
import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Quantization
import MM1Reference
import MM1Tensor

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one place where errors become exit statuses. Statuses follow sysexits(3), as
/// ArgumentParser's own usage error (64) does.
public enum ExitStatus {
    /// `verify` ran and at least one stage is outside the tolerance.
    public static let verificationFailed: Int32 = 1
    public static let usage: Int32 = 64
    public static let dataError: Int32 = 65
    public static let noInput: Int32 = 66
    public static let software: Int32 = 70
    public static let cannotCreate: Int32 = 73
    public static let ioError: Int32 = 74

    /// The status for `error`.
    public static func code(for error: any Error) -> Int32 {
        switch error {
        case is FormatError, is ConversionError, is TensorLookupError, is ImportError, is ConfigError, is DecodingError: dataError
        case let e as PackageError: e.reason == .noManifest ? noInput : dataError
        case is ValidationFailure: usage
        case is ReferenceError, is GGUFExport.ExportError, is QuantizationError, is PackageLookupError: dataError
        case let e as QuantizationPolicyError:
            switch e {
            case .alreadyQuantized, .nameCollision: dataError
            case .badRule, .badGroupSize: usage
            }
        case let e as FileSystemError: e.isMissingFile || e.isNotRegularFile ? noInput : ioError
        case let e as OutputError:
            switch e {
            case .exists, .busy: cannotCreate
            default: software
            }
        case let e as CocoaError: e.code == .fileNoSuchFile || e.code == .fileReadNoSuchFile ? noInput : ioError
        default: software
        }
    }
}

/// Runs a command body, printing any error once to stderr and exiting with its status.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        let status = ExitStatus.code(for: error)
        let prefix = status == ExitStatus.software ? "internal error (please report): " : "error: "
        FileHandleStream.standardError.write("\(prefix)\(error)\n")
        throw ExitCode(status)
    }
}

/// Minimal stderr/stdout writer that does not go through Foundation's buffering.
struct FileHandleStream: TextOutputStream {
    let fd: Int32
    static let standardError = FileHandleStream(fd: 2)
    static let standardOutput = FileHandleStream(fd: 1)

    func write(_ string: String) {
        var s = string
        s.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }

    var isTerminal: Bool { isatty(fd) == 1 }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#else
private let systemWrite = Darwin.write
#endif
