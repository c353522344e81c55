/// The dimensions of a tensor, outermost first (row-major, C order).
///
/// A `Shape` only exists with a representable element count: the product of its dimensions is
/// computed with overflow checks when it is made, so code holding a `Shape` never multiplies again.
public struct Shape: Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// Dimensions, outermost first. Empty for a scalar (one element).
    public let dimensions: [Int]
    /// Product of the dimensions (1 for a scalar, 0 when any dimension is 0).
    public let elementCount: Int

    /// Why a list of dimensions is not a shape.
    public enum Invalid: Error, Sendable, Equatable {
        case negativeDimension(Int)
        case elementCountOverflows
    }

    /// Makes a shape, checking that every dimension is non-negative and the product fits in `Int`.
    public init(_ dimensions: [Int]) throws(Invalid) {
        // Multiplied in order with overflow checks, as the safetensors reference does
        // (`try_fold(1, checked_mul)`): once a dimension is 0 the product stays 0 and cannot overflow.
        var count = 1
        for d in dimensions {
            guard d >= 0 else { throw .negativeDimension(d) }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw .elementCountOverflows }
            count = p
        }
        self.dimensions = dimensions
        self.elementCount = count
    }

    public init(arrayLiteral elements: Int...) {
        do { try self.init(elements) } catch { preconditionFailure("invalid shape literal \(elements)") }
    }

    public init(from decoder: any Decoder) throws {
        let dims = try decoder.singleValueContainer().decode([Int].self)
        do { try self.init(dims) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid shape \(dims): \(error)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(dimensions)
    }

    /// Number of dimensions.
    public var rank: Int { dimensions.count }

    /// Bytes needed to store `elementCount` elements of `dtype`, or `nil` when the count overflows
    /// or a sub-byte type does not fill whole bytes.
    public func byteCount(of dtype: DType) -> Int? {
        let (bits, overflow) = elementCount.multipliedReportingOverflow(by: dtype.bitWidth)
        guard !overflow, bits % 8 == 0 else { return nil }
        return bits / 8
    }

    /// `[2, 3]` style, as PyTorch prints sizes.
    public var description: String { "[" + dimensions.map(String.init).joined(separator: ", ") + "]" }
}
