// A loader, as an inference runtime would write one against mm1conv's library: open a package, read
// its config, walk its parameters, take stored bytes zero-copy with their place in the file, read a
// quantized tensor's codes and scales, dequantize on demand, and run the reference forward pass.
//
//   swift run Loader PACKAGE.mm1 INT4-PACKAGE.mm1 REFERENCE.safetensors
//
// Every step checks what it reads; the exit status is 1 on any mismatch.
import Foundation
import MM1Kit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The checks made so far, and the ones that failed.
struct Checks {
    private(set) var count = 0
    private(set) var failures: [String] = []

    mutating func expect(_ condition: Bool, _ what: @autoclosure () -> String) {
        count += 1
        if !condition {
            failures.append(what())
            print("  MISMATCH: \(what())")
        }
    }
}

/// Reads `location`'s bytes with `pread`, as a runtime that does its own I/O would.
func readBytes(at location: FileLocation) throws -> [UInt8] {
    let fd = open(location.path, O_RDONLY)
    guard fd >= 0 else { throw FileSystemError(path: location.path, operation: "open", code: errno) }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: location.byteCount)
    let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, location.byteCount, off_t(location.offset)) }
    guard got == location.byteCount else { throw FileSystemError(path: location.path, operation: "read", code: errno) }
    return bytes
}

/// A stand-in for a runtime's own tensor type: where it would upload the bytes from, and how many.
struct DeviceTensor {
    let name: String
    let source: FileLocation
    let byteCount: Int
}

/// Runs every step on the two packages and the reference file, recording each check in `checks`.
/// - Throws: what the library throws when a file cannot be opened or read.
func load(_ packagePath: String, _ int4Path: String, reference referencePath: String, checks: inout Checks) throws {
    // 1. Open a package (the manifest is checked against its shards) and read its config.
    let package = try MM1Package.open(packagePath)
    let int4 = try MM1Package.open(int4Path)
    print("\(package.path): \(package.manifest.config)")
    checks.expect(package.manifest.config == int4.manifest.config, "the int4 copy has the same config")

    // 2. Walk the parameters by component: specs, roles, how each is stored.
    print("parameters by component:")
    for component in Component.allCases {
        var count = 0, bytes = 0, storedAs: [String: Int] = [:]
        int4.model.forEachParameter(in: component) { spec, stored in
            count += 1
            bytes += stored.byteCount
            storedAs[stored.format.map { "\($0)" } ?? stored.dtype!.rawValue, default: 0] += 1
        }
        print("  \(component.rawValue): \(count) parameters, \(bytes) bytes stored, "
              + storedAs.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
    }
    let parameters = package.parameters
    checks.expect(parameters.map(\.spec) == package.model.specs, "package.parameters is in spec order")
    checks.expect(int4.storage.count > int4.parameters.count,
                  "the int4 package stores more tensors (\(int4.storage.count)) than it has parameters (\(int4.parameters.count))")

    // 3. Raw bytes, zero-copy, with their place in the file: what a runtime uploads to a device.
    let device = try package.model.map { spec, stored -> DeviceTensor in
        guard let view = stored.view, let location = view.location else { throw LoaderError("\(spec.name) is not a plain mapped tensor") }
        return DeviceTensor(name: spec.name, source: location, byteCount: view.byteCount)
    }
    let q = package.model.language.layers[0].attention.q.weight
    let qView = q.view!, qLocation = qView.location!
    let shard = package.files.first { $0.path == qLocation.path }!
    let mapped = shard.mapping.bytes.baseAddress! + qLocation.offset
    print("\(q.name): \(q.storageDescription) \(q.shape), \(q.byteCount) bytes at \(qLocation)")
    checks.expect(UnsafeRawPointer(qView.bytes.baseAddress!) == mapped, "the view's bytes are the shard's mapping at the location's offset (no copy)")
    checks.expect(try readBytes(at: qLocation) == Array(qView.bytes), "pread at the location reads the view's bytes")
    checks.expect(device.language.layers[0].attention.q.weight.source == qLocation, "the mapped tree's leaf carries the same location")
    checks.expect(qLocation.offset == package.manifest.tensors[q.name]!.offset, "the location's offset is the manifest entry's")

    // 4. A quantized tensor: its codes and scales as stored, then dequantized on demand.
    let stored = int4.model.language.layers[0].attention.q.weight
    let quantized = stored.quantized!
    let layout = quantized.layout
    print("\(stored)")
    for part in stored.parts { print("  \(part.role.rawValue): \(part.name) \(part.dtype) \(part.shape) at \(part.location!)") }
    do throws(PackageLookupError) {
        _ = try int4.view(named: stored.name)
        checks.expect(false, "view(named:) of a quantized parameter throws")
    } catch {
        print("  view(named:) refuses it: \(error)")
        checks.expect(error.reason == .quantized(quantized.format), "view(named:) of a quantized parameter throws .quantized")
    }
    checks.expect(try int4.storedPart(named: "\(stored.name).scales").role == .scales, "the scales are a stored part beside the codes")
    checks.expect(try readBytes(at: quantized.codes.location!) == Array(quantized.codes.bytes), "pread at the codes' location reads the codes")
    let values = stored.quantized!.floats()  // dequantized on demand
    if quantized.format.bits == .int4 && quantized.format.mode == .symmetric {
        // By hand from the stored parts: element 2k of a row in byte k's low nibble, 2k+1 in its high one, value s·(n − 8).
        let scales = try quantized.scales.floats()
        let codes = quantized.codes.bytes
        var manual = [Float](repeating: 0, count: layout.rows * layout.cols)
        for r in 0..<layout.rows {
            for c in 0..<layout.cols {
                let byte = codes[r * layout.codeBytesPerRow + c / 2]
                let nibble = c % 2 == 0 ? byte & 0x0F : byte >> 4
                manual[r * layout.cols + c] = scales[r * layout.groupsPerRow + c / quantized.format.groupSize] * Float(Int(nibble) - 8)
            }
        }
        checks.expect(manual.map(\.bitPattern) == values.map(\.bitPattern), "codes × scales by hand equal floats(), bit for bit")
    }
    let original = try q.floats()
    let dot = zip(original, values).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    let norms = (original.reduce(0) { $0 + Double($1) * Double($1) }).squareRoot() * (values.reduce(0) { $0 + Double($1) * Double($1) }).squareRoot()
    print("  dequantized: cosine \(dot / norms) to the BF16 original")
    checks.expect(dot / norms > 0.99, "int4 values follow the original (cosine > 0.99)")

    // 5. The reference forward pass through public API, against what PyTorch computed.
    let reference = try ReferenceActivations.read(referencePath)
    print("reference stages: \(reference.expected.order.joined(separator: " "))")
    let report = try Verifier.verify(MM1Forward(model: package.model, weights: ViewWeights()), reference: reference)
    let worst = report.stages.compactMap { s in s.metrics.map { (s.stage, $0.scaledError) } }.max { $0.1 < $1.1 }
    print("forward pass vs PyTorch: \(report.passed ? "passed" : "FAILED at \(report.firstFailure ?? "?")"), \(report.stages.count) stages, worst scaled error \(worst.map { "\($0.1) (\($0.0))" } ?? "-")")
    checks.expect(report.passed, "the forward pass matches the reference within \(Verifier.defaultTolerance)")
    checks.expect(report.stages.map(\.stage) == reference.expected.order, "stages are compared in the reference's pipeline order")
    let logits = try MM1Forward(model: int4.model, weights: ViewWeights()).run(reference.inputs) { $0 == "logits" }["logits"]!
    let agreement = LogitMetrics(expected: reference.expected["logits"]!.values, actual: logits.values, vocab: logits.shape.last!).top1Agreement
    print("int4 forward pass: top-1 agreement with PyTorch \(agreement)")
    checks.expect(logits.shape == reference.expected["logits"]!.shape, "int4 logits have the reference's shape")
}

let arguments = CommandLine.arguments
guard arguments.count == 4 else {
    print("usage: Loader PACKAGE.mm1 INT4-PACKAGE.mm1 REFERENCE.safetensors")
    exit(64)
}
var checks = Checks()
do {
    try load(arguments[1], arguments[2], reference: arguments[3], checks: &checks)
} catch {
    checks.expect(false, "\(error)")
}
print(checks.failures.isEmpty ? "loader sample: all \(checks.count) checks passed" : "loader sample: \(checks.failures.count) of \(checks.count) checks FAILED")
exit(checks.failures.isEmpty ? 0 : 1)

/// A loader's own refusal.
struct LoaderError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
