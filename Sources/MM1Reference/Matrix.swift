/// A row-major `rows × cols` block of `Float` activations: a sequence of token vectors, or (for images
/// in channels-last layout) `height·width` pixels of `cols` channels.
public struct Matrix: Sendable, Equatable {
    /// Number of rows (tokens or pixels).
    public let rows: Int
    /// Number of columns (features or channels).
    public let cols: Int
    /// The `rows · cols` values, row by row.
    public var values: [Float]

    /// A matrix of zeros.
    public init(rows: Int, cols: Int) {
        self.init(rows: rows, cols: cols, values: [Float](repeating: 0, count: rows * cols))
    }

    /// A matrix whose values the caller overwrites entirely before reading them (a GEMM output):
    /// skips the zero fill.
    init(uninitializedRows rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
        self.values = [Float](unsafeUninitializedCapacity: rows * cols) { _, count in count = rows * cols }
    }

    /// A matrix over `values`, which must hold exactly `rows · cols` elements.
    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "\(values.count) values for a \(rows)×\(cols) matrix")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    /// Row `i` as a fresh array.
    public func row(_ i: Int) -> ArraySlice<Float> { values[(i * cols)..<((i + 1) * cols)] }

    /// Rows `range` as a new matrix.
    public func rows(_ range: Range<Int>) -> Matrix {
        Matrix(rows: range.count, cols: cols, values: Array(values[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }

    /// The transpose (`cols × rows`), e.g. channels-last pixels to NCHW planes.
    public func transposed() -> Matrix {
        var out = Matrix(rows: cols, cols: rows)
        values.withUnsafeBufferPointer { src in
            out.values.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows { for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] } }
            }
        }
        return out
    }

    /// Stacks matrices of equal width vertically.
    public static func concatenating(_ parts: [Matrix]) -> Matrix {
        guard let first = parts.first else { return Matrix(rows: 0, cols: 0) }
        precondition(parts.allSatisfy { $0.cols == first.cols })
        return Matrix(rows: parts.reduce(0) { $0 + $1.rows }, cols: first.cols, values: parts.flatMap(\.values))
    }
}
