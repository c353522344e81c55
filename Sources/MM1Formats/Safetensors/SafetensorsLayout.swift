import MM1Tensor
/// Where every tensor of a safetensors file to be written will go, decided before any byte is
/// written.
///
/// The layout is the reference writer's, so that output is deterministic and aligned without
/// padding between tensors:
/// 1. tensors are ordered by dtype, widest alignment first (the reference's declaration order,
///    descending), then by name, so each tensor starts at a multiple of its element size;
/// 2. the header is compact JSON with `__metadata__` first (keys sorted) and tensors in offset
///    order, padded with spaces so that the data starts at a multiple of 8.
/// Two runs with the same tensors and metadata give byte-identical files.
public struct SafetensorsLayout: Sendable {
    /// A tensor to be written: name, dtype, shape.
    public struct Entry: Sendable, Hashable {
        public let name: String
        public let dtype: DType
        public let shape: Shape
        public init(name: String, dtype: DType, shape: Shape) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }
    }

    /// The tensors in file order, with their byte ranges in the data buffer.
    public let tensors: [TensorInfo]
    /// The 8-byte length and the padded JSON header.
    public let headerBytes: [UInt8]

    /// Total size of the file.
    public var fileSize: Int { headerBytes.count + (tensors.last?.byteRange.upperBound ?? 0) }

    /// Plans a file holding `entries` and `metadata`.
    /// - Throws: ``OutputError`` for duplicate or reserved names and unrepresentable sizes.
    public init(entries: [Entry], metadata: [String: String] = ["format": "pt"]) throws(OutputError) {
        var seen = Set<String>()
        for e in entries {
            guard !e.name.isEmpty, e.name != "__metadata__" else { throw .invalidTensorName(e.name) }
            guard seen.insert(e.name).inserted else { throw .duplicateTensor(e.name) }
        }
        let ordered = entries.sorted {
            ($0.dtype.alignmentRank, $1.name) > ($1.dtype.alignmentRank, $0.name)
        }
        var offset = 0
        var infos: [TensorInfo] = []
        infos.reserveCapacity(ordered.count)
        for e in ordered {
            guard let n = e.shape.byteCount(of: e.dtype), offset <= Int.max - n else { throw .unrepresentable(tensor: e.name) }
            infos.append(TensorInfo(name: e.name, dtype: e.dtype, shape: e.shape, byteRange: offset..<(offset + n)))
            offset += n
        }
        var json = "{"
        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(JSONText.quoted($0)):\(JSONText.quoted(metadata[$0]!))" }
            members.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        for info in infos {
            let shape = info.shape.dimensions.map(String.init).joined(separator: ",")
            members.append(
                "\(JSONText.quoted(info.name)):{\"dtype\":\"\(info.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(info.byteRange.lowerBound),\(info.byteRange.upperBound)]}"
            )
        }
        json += members.joined(separator: ",") + "}"
        var header = Array(json.utf8)
        let padded = (header.count + 7) / 8 * 8
        header += Array(repeating: 0x20, count: padded - header.count)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { header.insert(contentsOf: $0, at: 0) }
        self.tensors = infos
        self.headerBytes = header
    }
}
