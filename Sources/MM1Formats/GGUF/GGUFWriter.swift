import MM1Tensor

/// Writes a GGUF v3 file tensor by tensor: header, metadata, tensor infos and padding first, then each
/// tensor's bytes in the declared order, each padded to the alignment — through ``AtomicFile``, so the
/// file appears at its path complete or not at all.
public final class GGUFWriter {
    /// One tensor to write: name, ggml type and `ne` (innermost dimension first).
    public struct Tensor: Sendable {
        public let name: String
        public let type: GGMLType
        public let dimensions: [Int]
        public init(name: String, type: GGMLType, dimensions: [Int]) {
            self.name = name
            self.type = type
            self.dimensions = dimensions
        }
        /// Bytes of the tensor's data.
        public var byteCount: Int { dimensions.reduce(1, *) / type.blockSize * type.blockBytes }
    }

    public static let alignment = 32
    private let file: AtomicFile
    private let tensors: [Tensor]
    private var next = 0

    /// Opens `path` and writes everything before the tensor data.
    public init(path: String, metadata: [(key: String, value: GGUFValue)], tensors: [Tensor], overwrite: Bool = false) throws {
        file = try AtomicFile(path: path, overwrite: overwrite)
        self.tensors = tensors
        var head: [UInt8] = Array("GGUF".utf8)
        Self.append(UInt32(3), to: &head)
        Self.append(UInt64(tensors.count), to: &head)
        Self.append(UInt64(metadata.count), to: &head)
        for (key, value) in metadata {
            Self.append(string: key, to: &head)
            Self.append(UInt32(value.typeID), to: &head)
            Self.append(value: value, to: &head)
        }
        var offset = 0
        for t in tensors {
            Self.append(string: t.name, to: &head)
            Self.append(UInt32(t.dimensions.count), to: &head)
            for d in t.dimensions { Self.append(UInt64(d), to: &head) }
            Self.append(t.type.id, to: &head)
            Self.append(UInt64(offset), to: &head)
            offset += Self.padded(t.byteCount)
        }
        head += [UInt8](repeating: 0, count: Self.padded(head.count) - head.count)
        try file.write(head)
    }

    /// The next tensor expected by ``write(_:bytes:)``.
    public var nextTensor: Tensor? { next < tensors.count ? tensors[next] : nil }

    /// Writes the data of the next tensor, which must be `name` and exactly its size.
    public func write(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        guard let t = nextTensor, t.name == name, bytes.count == t.byteCount else {
            preconditionFailure("GGUFWriter: \(name) (\(bytes.count) bytes) is not the next tensor \(nextTensor.map { "\($0.name) (\($0.byteCount) bytes)" } ?? "(none)")")
        }
        try file.write(bytes)
        try file.write([UInt8](repeating: 0, count: Self.padded(bytes.count) - bytes.count))
        next += 1
    }

    /// Moves the finished file into place (every tensor must have been written).
    public func commit() throws {
        precondition(next == tensors.count, "GGUFWriter: \(tensors.count - next) tensors not written")
        try file.commit()
    }

    static func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    static func append(string: String, to out: inout [UInt8]) {
        append(UInt64(string.utf8.count), to: &out)
        out.append(contentsOf: string.utf8)
    }

    static func append(value: GGUFValue, to out: inout [UInt8]) {
        switch value {
        case .uint8(let v): append(v, to: &out)
        case .int8(let v): append(v, to: &out)
        case .uint16(let v): append(v, to: &out)
        case .int16(let v): append(v, to: &out)
        case .uint32(let v): append(v, to: &out)
        case .int32(let v): append(v, to: &out)
        case .float32(let v): append(v.bitPattern, to: &out)
        case .bool(let v): append(UInt8(v ? 1 : 0), to: &out)
        case .string(let s): append(string: s, to: &out)
        case .uint64(let v): append(v, to: &out)
        case .int64(let v): append(v, to: &out)
        case .float64(let v): append(v.bitPattern, to: &out)
        case .array(let type, let values):
            append(type, to: &out)
            append(UInt64(values.count), to: &out)
            for v in values { append(value: v, to: &out) }
        }
    }
}
