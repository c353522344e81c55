import MM1Tensor

/// Bits per quantized code.
public enum QuantizedBits: String, Codable, Sendable, CaseIterable {
    case int8, int4

    /// 8 or 4.
    public var bits: Int { self == .int8 ? 8 : 4 }
}

/// How codes map back to values.
public enum QuantizationMode: String, Codable, Sendable, CaseIterable {
    /// `x ≈ s · q` with `q` signed: int8 `q ∈ [−127, 127]` stored as int8; int4 `q ∈ [−8, 7]` stored
    /// as the nibble `n = q + 8`.
    case symmetric
    /// `x ≈ s · n + b` with `n ∈ [0, 2^bits − 1]` stored unsigned (MLX's layout).
    case affine
    /// int4 only: `x ≈ s · v[n]` with `v` llama.cpp's IQ4_NL grid (−127, −104, −83, −65, −49, −35, −22,
    /// −10, 1, 13, 25, 38, 53, 69, 89, 113: levels dense near zero, where trained weights are); the
    /// element of largest magnitude maps to −127. One scale per group: with groups of 32 and f16
    /// scales, the same 4.5 bits per weight as Q4_0 and a lower error; the codes and scales are GGUF
    /// IQ4_NL blocks.
    case nonlinear

    /// The mode's number in the C kernels (`mm1_quantize_rows`).
    public var kernelMode: Int32 {
        switch self {
        case .symmetric: 0
        case .affine: 1
        case .nonlinear: 2
        }
    }
}

/// The stored format of one quantized parameter: bits, mode and the concrete group size along its
/// last (input) dimension; a group as long as the row is per-output-channel quantization. Recorded
/// per tensor in the package manifest (`Schemas/package.schema.json`).
public struct QuantizedFormat: Codable, Sendable, Hashable, CustomStringConvertible {
    public let bits: QuantizedBits
    public let mode: QuantizationMode
    public let groupSize: Int

    public init(bits: QuantizedBits, mode: QuantizationMode, groupSize: Int) {
        self.bits = bits
        self.mode = mode
        self.groupSize = groupSize
    }

    enum CodingKeys: String, CodingKey {
        case bits, mode
        case groupSize = "group_size"
    }

    public var description: String { "\(bits.rawValue) \(mode.rawValue) g\(groupSize)" }

    /// The dtype of the codes: int8 for symmetric int8, otherwise uint8 (int4: two codes per byte).
    public var codeDType: DType { bits == .int8 && mode == .symmetric ? .i8 : .u8 }

    /// Checks that a parameter of `shape` can be stored in this format and returns its parts'
    /// shapes: codes, then scales (and biases, affine only, of the scales' shape).
    /// - Throws: ``QuantizationError/Reason/unsupportedShape(_:)`` naming the reason.
    public func layout(of shape: [Int]) throws(QuantizationError.Reason) -> QuantizedLayout {
        guard let cols = shape.last, shape.count >= 2 else { throw .unsupportedShape("\(shape) is not a matrix (quantized along the last dimension)") }
        guard groupSize > 0 else { throw .unsupportedShape("group size \(groupSize) is not positive") }
        guard cols % groupSize == 0 else { throw .unsupportedShape("input dimension \(cols) is not a multiple of the group size \(groupSize)") }
        if mode == .nonlinear, bits != .int4 { throw .unsupportedShape("the nonlinear mode is int4 only") }
        if bits == .int4 {
            guard groupSize % 2 == 0, groupSize <= QuantizedLayout.largestInt4Group else {
                throw .unsupportedShape("int4 groups must be even and at most \(QuantizedLayout.largestInt4Group) elements (group \(groupSize))")
            }
        }
        let lead = Array(shape.dropLast())
        let codes = lead + [bits == .int4 ? cols / 2 : cols]
        return QuantizedLayout(format: self, shape: shape, codes: codes, scales: lead + [cols / groupSize])
    }
}

/// The shapes of a quantized parameter's parts (see ``QuantizedFormat/layout(of:)``).
public struct QuantizedLayout: Sendable, Hashable {
    /// int4 codes are unpacked one group at a time on the stack.
    public static let largestInt4Group = 4096
    public let format: QuantizedFormat
    /// The parameter's own (logical) shape.
    public let shape: [Int]
    public let codes: [Int]
    /// Shape of the scales, and of the biases when the mode is affine.
    public let scales: [Int]

    /// Number of rows (product of all dimensions but the last).
    public var rows: Int { shape.dropLast().reduce(1, *) }
    /// Elements per row (the last dimension).
    public var cols: Int { shape.last ?? 0 }
    /// Groups per row.
    public var groupsPerRow: Int { cols / format.groupSize }
    /// Bytes of codes per row.
    public var codeBytesPerRow: Int { format.bits == .int4 ? cols / 2 : cols }
}

/// What went wrong quantizing or reading a quantized parameter.
public struct QuantizationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The reason alone (thrown by ``QuantizedFormat/layout(of:)``, which knows no tensor name).
    public enum Reason: Error, Sendable, Equatable {
        case unsupportedShape(String)
        /// An input value is NaN or infinite (its flat index).
        case nonFinite(index: Int)
        /// A scale or bias does not fit the storage dtype (f16 overflow).
        case scaleOverflow(String)
        /// The stored parts disagree with the recorded format.
        case partMismatch(String)
    }
    public let tensor: String
    public let reason: Reason

    public init(tensor: String, reason: Reason) {
        self.tensor = tensor
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .unsupportedShape(let d): "\(tensor): cannot be quantized: \(d)"
        case .nonFinite(let i): "\(tensor): element \(i) is not finite; a weight with NaN or infinity cannot be quantized"
        case .scaleOverflow(let d): "\(tensor): \(d)"
        case .partMismatch(let d): "\(tensor): \(d)"
        }
    }
}
