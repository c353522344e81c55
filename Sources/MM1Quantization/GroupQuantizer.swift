import CKernels
import Foundation
import MM1Tensor

/// Quantizes f32 parameters into a ``QuantizedFormat``'s codes, scales and biases, and dequantizes
/// them back. Rows are split across the CPU's cores.
///
/// The symmetric round-to-nearest path is ggml's: with groups of 32 and f16 scales, int8 codes and
/// scales are exactly a Q8_0 block's and int4 ones a Q4_0 block's (reordered nibbles), so such
/// packages export to GGUF without requantizing.
public struct GroupQuantizer: Sendable {
    public let format: QuantizedFormat
    /// f16 or f32.
    public let scaleDType: DType
    /// Search each group's clipping range for the least squared error (`--optimize-scales`).
    public let optimizeScales: Bool

    public init(format: QuantizedFormat, scaleDType: DType = .f16, optimizeScales: Bool = false) {
        precondition(scaleDType == .f16 || scaleDType == .f32, "scales are stored as f16 or f32")
        self.format = format
        self.scaleDType = scaleDType
        self.optimizeScales = optimizeScales
    }

    /// Quantizes `values` (a parameter of `layout.shape`, row-major) into the three destinations,
    /// sized exactly for `layout` (codes bytes, scales and biases in ``scaleDType``; `biases` is
    /// ignored for symmetric formats).
    public func quantize(
        _ name: String, _ values: UnsafeBufferPointer<Float>, layout: QuantizedLayout,
        codes: UnsafeMutableRawBufferPointer, scales: UnsafeMutableRawBufferPointer, biases: UnsafeMutableRawBufferPointer?
    ) throws(QuantizationError) {
        let rows = layout.rows, cols = layout.cols, groups = layout.groupsPerRow
        let scaleCount = rows * groups
        precondition(values.count == rows * cols && codes.count == rows * layout.codeBytesPerRow)
        precondition(scales.count == scaleCount * scaleDType.byteWidth!)
        let affine = format.mode == .affine
        let f32Scales = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, scaleCount))
        let f32Biases = UnsafeMutableBufferPointer<Float>.allocate(capacity: affine ? max(1, scaleCount) : 1)
        defer { f32Scales.deallocate(); f32Biases.deallocate() }

        // Chunks of rows, about 1 MiB of input each, spread over the cores.
        let rowsPerChunk = max(1, (1 << 18) / max(1, cols))
        let chunks = (rows + rowsPerChunk - 1) / rowsPerChunk
        let failures = FirstFailure()
        let input = UncheckedPointers(values: values.baseAddress!, codes: codes.baseAddress!, scales: f32Scales.baseAddress!, biases: f32Biases.baseAddress!)
        let bits = Int32(format.bits.bits), group = format.groupSize, codeBytes = layout.codeBytesPerRow
        let half: Int32 = scaleDType == .f16 ? 1 : 0, optimize: Int32 = optimizeScales ? 1 : 0
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let first = chunk * rowsPerChunk, count = min(rowsPerChunk, rows - first)
            let result = mm1_quantize_rows(
                input.values + first * cols, count, cols, group, bits, format.mode.kernelMode, half, optimize,
                input.codes.assumingMemoryBound(to: UInt8.self) + first * codeBytes,
                input.scales + first * groups, affine ? input.biases + first * groups : nil)
            if result >= 0 { failures.record(first * cols + result) }
            else if result == -2 { failures.record(-1) }
        }
        if let index = failures.first {
            throw QuantizationError(tensor: name, reason: index < 0 ? .unsupportedShape("invalid group layout \(format)") : .nonFinite(index: index))
        }
        try store(name, UnsafeBufferPointer(rebasing: f32Scales[0..<scaleCount]), what: "scale", into: scales)
        if affine, let biases {
            try store(name, UnsafeBufferPointer(rebasing: f32Biases[0..<scaleCount]), what: "bias", into: biases)
        }
    }

    /// Quantizes `values` (a parameter of `shape`) into a ``QuantizedTensor`` held in memory: for
    /// requantizing, measuring and tests; packages are written by the importer, part by part.
    public func quantize(_ name: String, _ values: [Float], shape: [Int]) throws(QuantizationError) -> QuantizedTensor {
        let layout: QuantizedLayout
        do { layout = try format.layout(of: shape) } catch { throw QuantizationError(tensor: name, reason: error) }
        let affine = format.mode == .affine
        var codes = [UInt8](repeating: 0, count: layout.rows * layout.codeBytesPerRow)
        var scales = [UInt8](repeating: 0, count: layout.rows * layout.groupsPerRow * scaleDType.byteWidth!)
        var biases = [UInt8](repeating: 0, count: affine ? scales.count : 0)
        var failure: QuantizationError?
        values.withUnsafeBufferPointer { v in
            codes.withUnsafeMutableBytes { c in
                scales.withUnsafeMutableBytes { sc in
                    biases.withUnsafeMutableBytes { b in
                        do throws(QuantizationError) { try quantize(name, v, layout: layout, codes: c, scales: sc, biases: affine ? b : nil) } catch { failure = error }
                    }
                }
            }
        }
        if let failure { throw failure }
        // The shapes come from `layout`, which checked them: Shape cannot fail here.
        let scaleShape = try! Shape(layout.scales)
        return try QuantizedTensor(
            name: name, format: format, shape: shape,
            codes: TensorView(copying: codes, name: name, dtype: format.codeDType, shape: try! Shape(layout.codes)),
            scales: TensorView(copying: scales, name: name + ".scales", dtype: scaleDType, shape: scaleShape),
            biases: affine ? TensorView(copying: biases, name: name + ".biases", dtype: scaleDType, shape: scaleShape) : nil)
    }

    private func store(_ name: String, _ values: UnsafeBufferPointer<Float>, what: String, into out: UnsafeMutableRawBufferPointer) throws(QuantizationError) {
        if scaleDType == .f16, let i = values.firstIndex(where: { abs($0) > 65504 }) {
            throw QuantizationError(tensor: name, reason: .scaleOverflow("group \(i)'s \(what) \(values[i]) does not fit in f16; quantize with f32 scales"))
        }
        do {
            try DTypeConversion.fromFloat32(values, to: scaleDType, into: out)
        } catch {
            throw QuantizationError(tensor: name, reason: .scaleOverflow("cannot store \(what)s as \(scaleDType): \(error)"))
        }
    }

    /// Dequantizes rows `rows` (of the flattened `[rows, cols]` matrix) of a stored quantized
    /// parameter into `out` (`rows.count · cols` floats).
    public static func dequantize(_ tensor: QuantizedTensor, rows: Range<Int>, into out: UnsafeMutableBufferPointer<Float>) {
        let layout = tensor.layout, cols = layout.cols, groups = layout.groupsPerRow
        precondition(rows.lowerBound >= 0 && rows.upperBound <= layout.rows && out.count == rows.count * cols)
        let affine = layout.format.mode == .affine
        let scaleWidth = tensor.scales.dtype.byteWidth!
        let scaleRange = (rows.lowerBound * groups * scaleWidth)..<(rows.upperBound * groups * scaleWidth)
        let count = rows.count * groups
        var scales = [Float](repeating: 0, count: max(1, count)), biases = [Float](repeating: 0, count: affine ? max(1, count) : 1)
        // The scales' dtype was checked when the tensor was opened (f16, bf16 or f32): conversion cannot fail.
        try! scales.withUnsafeMutableBufferPointer { s in
            try DTypeConversion.toFloat32(UnsafeRawBufferPointer(rebasing: tensor.scales.bytes[scaleRange]), dtype: tensor.scales.dtype,
                                          into: UnsafeMutableBufferPointer(rebasing: s[0..<count]))
        }
        if affine, let b = tensor.biases {
            try! biases.withUnsafeMutableBufferPointer { d in
                try DTypeConversion.toFloat32(UnsafeRawBufferPointer(rebasing: b.bytes[scaleRange]), dtype: b.dtype,
                                              into: UnsafeMutableBufferPointer(rebasing: d[0..<count]))
            }
        }
        let codeStart = rows.lowerBound * layout.codeBytesPerRow
        tensor.codes.withUnsafeBytes { codes in
            scales.withUnsafeBufferPointer { s in
                biases.withUnsafeBufferPointer { b in
                    mm1_dequantize_rows(codes.baseAddress!.assumingMemoryBound(to: UInt8.self) + codeStart, s.baseAddress, b.baseAddress,
                                        rows.count, cols, layout.format.groupSize, Int32(layout.format.bits.bits), layout.format.mode.kernelMode, out.baseAddress)
                }
            }
        }
    }
}

/// Raw pointers shared by the row chunks of one quantization; each chunk writes disjoint rows.
private struct UncheckedPointers: @unchecked Sendable {
    let values: UnsafePointer<Float>
    let codes: UnsafeMutableRawPointer
    let scales: UnsafeMutablePointer<Float>
    let biases: UnsafeMutablePointer<Float>
}

/// The smallest failing index reported by concurrent chunks.
private final class FirstFailure: @unchecked Sendable {
    private var value: Int?
    private let lock = NSLock()
    func record(_ index: Int) { lock.withLock { value = min(value ?? index, index) } }
    var first: Int? { lock.withLock { value } }
}
