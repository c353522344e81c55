import MM1Formats
import MM1Tensor

/// A reference-activations file (`Schemas/README.md`, "Reference-activations files"; `Schemas/reference-activations.schema.json`): the inputs of a forward pass
/// (`input.pixel_values`, `input.input_ids`) and the outputs a framework computed for them
/// (`expect.<stage>`), as safetensors.
public struct ReferenceActivations: Sendable {
    /// The file read.
    public let path: String
    /// The inputs to run.
    public let inputs: ForwardInputs
    /// The expected stages (`expect.` removed) in pipeline order, each found by name:
    /// `expected["logits"]`, or `for (stage, tensor) in expected`. Names the forward pass does not
    /// compute come last, in file order (``Verifier`` reports them as skipped).
    public let expected: ForwardStages

    /// Reads and checks `path`: `input.input_ids` (I64/I32 `[B, T]`) and `input.pixel_values` (a float
    /// dtype, `[B, 3, S, S]`), at least one of them (ids alone: a text-only check; pixels alone: an
    /// encoder-and-connector check); every other tensor must be an `expect.*` of a float dtype.
    /// - Throws: ``ReferenceError`` naming the tensor that breaks a rule; `FileSystemError` or
    ///   `FormatError` when the file cannot be read as safetensors.
    public static func read(_ path: String) throws -> ReferenceActivations {
        let file = try SafetensorsFile(path: path)
        func fail(_ tensor: String?, _ reason: String) -> ReferenceError { .referenceFile(path: path, tensor: tensor, reason: reason) }
        func floats(_ name: String) throws -> [Float] {
            let view = try file.view(named: name)
            guard [.f32, .f16, .bf16, .f64].contains(view.dtype) else { throw fail(name, "dtype \(view.dtype) is not a float type") }
            return try view.floats()
        }

        var sequences: [[Int]] = []
        if let idsInfo = file.info(named: "input.input_ids") {
            let shape = idsInfo.shape.dimensions
            guard shape.count == 2, shape[0] > 0, shape[1] > 0 else { throw fail(idsInfo.name, "shape \(idsInfo.shape) is not [B, T] with B, T > 0") }
            let view = try file.view(named: idsInfo.name)
            let ids: [Int]
            switch idsInfo.dtype {
            case .i64: ids = view.withUnsafeBytes { raw in (0..<idsInfo.shape.elementCount).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) } }
            case .i32: ids = view.withUnsafeBytes { raw in (0..<idsInfo.shape.elementCount).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) } }
            default: throw fail(idsInfo.name, "dtype \(idsInfo.dtype) is not I64 or I32")
            }
            sequences = (0..<shape[0]).map { Array(ids[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
        }

        var pixels: [Float]? = nil
        var imageSize = 0
        if let info = file.info(named: "input.pixel_values") {
            let d = info.shape.dimensions
            guard d.count == 4, d[0] > 0, d[1] == 3, d[2] == d[3], d[2] > 0 else { throw fail(info.name, "shape \(info.shape) is not [B, 3, S, S]") }
            if sequences.isEmpty {
                sequences = Array(repeating: [], count: d[0])  // an encoder-only check: no decoder stages
            } else if d[0] != sequences.count {
                throw fail(info.name, "\(d[0]) images for \(sequences.count) sequences of input_ids")
            }
            pixels = try floats(info.name)
            imageSize = d[2]
        }
        guard !sequences.isEmpty else { throw fail(nil, "holds neither input.input_ids nor input.pixel_values") }
        let batch = sequences.count

        var expected: [(stage: String, tensor: StageTensor)] = []
        for info in file.tensors.sorted(by: { $0.byteRange.lowerBound < $1.byteRange.lowerBound }) {
            if info.name == "input.input_ids" || info.name == "input.pixel_values" { continue }
            guard info.name.hasPrefix("expect."), info.name.count > 7 else {
                throw fail(info.name, "is neither an input (input.input_ids, input.pixel_values) nor an expectation (expect.*)")
            }
            guard info.shape.dimensions.first == batch || info.name.hasPrefix("expect.vision") || info.name.hasPrefix("expect.connector") || info.name == "expect.image_embeds" else {
                throw fail(info.name, "batch dimension \(info.shape.dimensions.first ?? 0) differs from input_ids' \(batch)")
            }
            expected.append((stage: String(info.name.dropFirst(7)), tensor: StageTensor(shape: info.shape.dimensions, values: try floats(info.name))))
        }
        return ReferenceActivations(path: path, inputs: ForwardInputs(pixelValues: pixels, imageSize: imageSize, inputIDs: sequences), expected: ForwardStages(pipelineOrderOf: expected))
    }
}
