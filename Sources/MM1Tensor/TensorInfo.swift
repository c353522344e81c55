#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a checkpoint says about one tensor: its name, element type, shape, and where its bytes are.
///
/// `byteRange` is relative to the start of the file's data section (for safetensors, the byte after
/// the header), exactly as the file records it.
public struct TensorInfo: Sendable, Hashable, Codable {
    public let name: String
    public let dtype: DType
    public let shape: Shape
    public let byteRange: Range<Int>

    public init(name: String, dtype: DType, shape: Shape, byteRange: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteRange = byteRange
    }

    /// Bytes the tensor occupies.
    public var byteCount: Int { byteRange.count }

    /// The order of tensor names in listings: by their UTF-8 bytes, which is code point order, as
    /// Python's and Rust's string sorts (Swift's `<` differs only for names not in normal form C).
    public static func nameOrder(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in compareNames(UnsafeRawBufferPointer(x), UnsafeRawBufferPointer(y)) < 0 } }
    }

    /// ``nameOrder(_:_:)`` on names held as UTF-8 bytes: negative, zero or positive.
    public static func compareNames(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Int {
        let n = Swift.min(x.count, y.count)
        if n > 0, case let c = memcmp(x.baseAddress!, y.baseAddress!, n), c != 0 { return Int(c) }
        return x.count - y.count
    }
}

extension RandomAccessCollection where Element == TensorInfo, Index == Int {
    /// Where the tensor called `name` is in a collection sorted by ``TensorInfo/nameOrder(_:_:)``
    /// (a binary search), or `nil`.
    public func sortedPosition(of name: String) -> Int? {
        var low = startIndex, high = endIndex
        while low < high {
            let mid = low + (high - low) / 2
            if TensorInfo.nameOrder(self[mid].name, name) { low = mid + 1 } else { high = mid }
        }
        return low < endIndex && self[low].name == name ? low : nil
    }
}
