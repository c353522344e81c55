import MM1Tensor

/// A quantized parameter inside a package: zero-copy views of its codes, scales and (affine)
/// biases, checked against its ``QuantizedFormat`` when made; values are dequantized on demand.
public struct QuantizedTensor: Sendable {
    /// The parameter's canonical name (the codes are stored under it).
    public let name: String
    public let layout: QuantizedLayout
    public let codes: TensorView
    public let scales: TensorView
    public let biases: TensorView?

    /// Checks the parts against `format` and `shape` (the parameter's logical shape).
    /// - Throws: ``QuantizationError`` naming the part that disagrees.
    public init(name: String, format: QuantizedFormat, shape: [Int], codes: TensorView, scales: TensorView, biases: TensorView?) throws(QuantizationError) {
        let layout: QuantizedLayout
        do { layout = try format.layout(of: shape) } catch { throw QuantizationError(tensor: name, reason: error) }
        func mismatch(_ d: String) -> QuantizationError { QuantizationError(tensor: name, reason: .partMismatch(d)) }
        guard codes.dtype == format.codeDType, codes.shape.dimensions == layout.codes else {
            throw mismatch("codes are \(codes.dtype) \(codes.shape), \(format) of \(shape) needs \(format.codeDType) \(layout.codes)")
        }
        for (what, part) in [("scales", scales), ("biases", biases)] {
            guard let part else { continue }
            guard [.f16, .bf16, .f32].contains(part.dtype), part.shape.dimensions == layout.scales else {
                throw mismatch("\(what) are \(part.dtype) \(part.shape), \(format) of \(shape) needs F16, BF16 or F32 \(layout.scales)")
            }
        }
        guard (format.mode == .affine) == (biases != nil) else {
            throw mismatch(format.mode == .affine ? "affine format without biases" : "\(format.mode) format with biases")
        }
        self.name = name
        self.layout = layout
        self.codes = codes
        self.scales = scales
        self.biases = biases
    }

    public var format: QuantizedFormat { layout.format }

    /// Stored bytes of all parts.
    public var byteCount: Int { codes.info.byteCount + scales.info.byteCount + (biases?.info.byteCount ?? 0) }

    /// Rows `rows` of the flattened `[rows, cols]` matrix, dequantized.
    public func floats(rows: Range<Int>) -> [Float] {
        [Float](unsafeUninitializedCapacity: rows.count * layout.cols) { buffer, count in
            GroupQuantizer.dequantize(self, rows: rows, into: buffer)
            count = buffer.count
        }
    }

    /// All values, dequantized, row-major in the logical shape.
    public func floats() -> [Float] { floats(rows: 0..<layout.rows) }

    /// Drops the resident pages of the parts' bytes for `rows`.
    public func releasePages(rows: Range<Int>) {
        let groups = layout.groupsPerRow
        codes.releasePages(in: (rows.lowerBound * layout.codeBytesPerRow)..<(rows.upperBound * layout.codeBytesPerRow))
        for part in [scales, biases].compactMap({ $0 }) {
            let w = part.dtype.byteWidth!
            part.releasePages(in: (rows.lowerBound * groups * w)..<(rows.upperBound * groups * w))
        }
    }
}

/// A parameter as a package stores it: a plain tensor in any float dtype, or quantized.
public enum StoredTensor: Sendable {
    case plain(TensorView)
    case quantized(QuantizedTensor)

    public var name: String {
        switch self {
        case .plain(let v): v.name
        case .quantized(let q): q.name
        }
    }

    /// The parameter's logical shape (for a quantized one, not its codes' shape).
    public var shape: [Int] {
        switch self {
        case .plain(let v): v.shape.dimensions
        case .quantized(let q): q.layout.shape
        }
    }

    /// The plain view, or nil when quantized.
    public var view: TensorView? {
        if case .plain(let v) = self { return v }
        return nil
    }

    /// The quantized parameter, or nil when plain.
    public var quantized: QuantizedTensor? {
        if case .quantized(let q) = self { return q }
        return nil
    }

    /// The values as f32: converted, or dequantized.
    public func floats() throws(ConversionError) -> [Float] {
        switch self {
        case .plain(let v): try v.floats()
        case .quantized(let q): q.floats()
        }
    }
}

/// A graph leaf the reference forward pass can read: a plain ``TensorView`` or a package's
/// ``StoredTensor``.
public protocol StoredParameter: Sendable {
    var stored: StoredTensor { get }
}

extension TensorView: StoredParameter {
    public var stored: StoredTensor { .plain(self) }
}

extension StoredTensor: StoredParameter {
    public var stored: StoredTensor { self }
}
