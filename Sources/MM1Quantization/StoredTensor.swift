import MM1Tensor

/// A quantized parameter inside a package: zero-copy views of its codes, scales and (affine)
/// biases, checked against its ``QuantizedFormat`` when made; values are dequantized on demand.
///
/// A package stores the codes under the parameter's own name and the scales and biases beside them
/// (their names are in the manifest entry's `quantization`, by default `NAME.scales` and
/// `NAME.biases`). The flattened `[rows, cols]` matrix is cut into groups of `groupSize` columns;
/// each group has one scale (and, affine, one bias).
public struct QuantizedTensor: Sendable {
    /// The parameter's canonical name (the codes are stored under it).
    public let name: String
    /// The format and the shapes it implies: the parameter's logical shape, the codes' and the
    /// scales' (``QuantizedLayout/codes``, ``QuantizedLayout/scales``).
    public let layout: QuantizedLayout
    /// The codes as stored, shape ``QuantizedLayout/codes``: for int4, two per byte (U8; element
    /// `2k` of a row in the low nibble of byte `k`, `2k + 1` in the high one); for int8, one per byte
    /// (I8 symmetric, U8 affine or nonlinear). ``QuantizationMode`` says how a code becomes a value.
    public let codes: TensorView
    /// One scale per group (F16, BF16 or F32), shape ``QuantizedLayout/scales``: `[rows, groups]`.
    public let scales: TensorView
    /// One bias per group for the affine mode (same dtype and shape as ``scales``), nil otherwise.
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

    /// Bits, mode and group size.
    public var format: QuantizedFormat { layout.format }

    /// Stored bytes of all parts.
    public var byteCount: Int { parts.reduce(0) { $0 + $1.byteCount } }

    /// The parts as stored, each with its role: codes, scales, then biases when affine.
    public var parts: [StoredPart] {
        [StoredPart(parameter: name, role: .codes, view: codes), StoredPart(parameter: name, role: .scales, view: scales)]
            + (biases.map { [StoredPart(parameter: name, role: .biases, view: $0)] } ?? [])
    }

    /// The format and the parts' dtypes, e.g. `int4 symmetric g32 (U8 codes, F16 scales)`.
    public var storageDescription: String {
        "\(format) (\(parts.map { "\($0.dtype) \($0.role.rawValue)" }.joined(separator: ", ")))"
    }

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
///
/// What a loader needs is on the value itself, without switching on the cases: ``dtype`` or
/// ``format``, ``storageDescription``, ``byteCount``, ``parts`` (the stored tensors, each with its
/// file ``StoredPart/location``), and ``floats()``.
public enum StoredTensor: Sendable, CustomStringConvertible {
    /// A tensor stored as it is used: one view in a float dtype.
    case plain(TensorView)
    /// Quantized codes with their scales (and biases): see ``QuantizedTensor``.
    case quantized(QuantizedTensor)

    /// The parameter's canonical name.
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

    /// The element type of a plain tensor; nil when quantized (see ``format``).
    public var dtype: DType? { view?.dtype }

    /// The quantized format; nil when plain (see ``dtype``).
    public var format: QuantizedFormat? { quantized?.format }

    /// How it is stored: the dtype (`F16`), or the format and its parts' dtypes
    /// (`int4 symmetric g32 (U8 codes, F16 scales)`).
    public var storageDescription: String {
        switch self {
        case .plain(let v): v.dtype.rawValue
        case .quantized(let q): q.storageDescription
        }
    }

    /// Stored bytes, all parts of a quantized parameter together.
    public var byteCount: Int { parts.reduce(0) { $0 + $1.byteCount } }

    /// The stored tensors: the one view of a plain parameter, or a quantized one's codes, scales and
    /// biases. Their bytes are zero-copy, with their place in the file (``StoredPart/location``).
    public var parts: [StoredPart] {
        switch self {
        case .plain(let v): [StoredPart(parameter: v.name, role: .plain, view: v)]
        case .quantized(let q): q.parts
        }
    }

    /// `name storageDescription [shape]`.
    public var description: String { "\(name) \(storageDescription) \(shape)" }

    /// The values as f32: converted, or dequantized.
    public func floats() throws(ConversionError) -> [Float] {
        switch self {
        case .plain(let v): try v.floats()
        case .quantized(let q): q.floats()
        }
    }
}

/// One tensor as a package's shard holds it, and what it is to its parameter: the whole of a plain
/// parameter, or a quantized one's codes, scales or biases.
///
/// Raw storage, for a runtime that uploads bytes as they are: a quantized parameter's codes are not
/// its values (``StoredTensor/floats()`` dequantizes them).
public struct StoredPart: Sendable, CustomStringConvertible {
    /// What a stored tensor is to its parameter.
    public enum Role: String, Sendable, Hashable, CaseIterable {
        /// The whole of a plain parameter, stored under its name.
        case plain
        /// A quantized parameter's codes, stored under its name.
        case codes
        /// A quantized parameter's scales, one per group (by default `NAME.scales`).
        case scales
        /// An affine quantized parameter's biases, one per group (by default `NAME.biases`).
        case biases
    }

    /// The canonical name of the parameter it belongs to.
    public let parameter: String
    /// What it is to ``parameter``.
    public let role: Role
    /// The stored bytes, zero-copy.
    public let view: TensorView

    /// `view`, stored as the `role` of `parameter`.
    public init(parameter: String, role: Role, view: TensorView) {
        self.parameter = parameter
        self.role = role
        self.view = view
    }

    /// The name it is stored under.
    public var name: String { view.name }
    /// Its stored element type.
    public var dtype: DType { view.dtype }
    /// Its stored shape (for codes, not the parameter's shape).
    public var shape: Shape { view.shape }
    /// Its stored bytes.
    public var byteCount: Int { view.byteCount }
    /// Its file and offset, when the view is of a mapped file (see ``TensorView/location``).
    public var location: FileLocation? { view.location }

    /// `name dtype [shape] (role of parameter)`.
    public var description: String {
        "\(name) \(dtype) \(shape)" + (role == .plain ? "" : " (\(role.rawValue) of \(parameter))")
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
