import MM1Tensor
/// One memory-mapped safetensors file whose header has been validated.
///
/// ```swift
/// let file = try SafetensorsFile(path: "model.safetensors")
/// let w = try file.view(named: "model.embed_tokens.weight")   // zero-copy
/// let values = try w.floats()                                  // converted on demand
/// ```
public final class SafetensorsFile: TensorSource, @unchecked Sendable {
    /// The path as given.
    public let path: String
    /// The validated header.
    public let header: SafetensorsHeader
    /// The mapping the views point into.
    public let mapping: MappedFile

    /// Maps and validates `path`.
    /// - Throws: ``FileSystemError`` when the file cannot be read, ``FormatError`` when it breaks a rule.
    public init(path: String, limits: ReadLimits = .standard) throws {
        self.path = path
        // The header is read, not faulted in through the mapping: the data stays untouched until viewed.
        self.mapping = try MappedFile(path: path) { SafetensorsHeader.prefixLength(first: $0, limits: limits) }
        self.header = try SafetensorsHeader(parsing: mapping.prefix, fileSize: mapping.size, name: path, limits: limits)
    }

    public var sourceDescription: String { path }
    public var tensors: [TensorInfo] { header.tensors }
    public var metadata: [String: String] { header.metadata }

    public func info(named name: String) -> TensorInfo? { header.info(named: name) }

    /// The UTF-8 bytes of the name of `tensors[i]` in the header as read, valid while the file lives;
    /// `nil` when the name is written with escapes (then only ``tensors`` has it).
    func nameBytes(_ i: Int) -> UnsafeRawBufferPointer? {
        header.nameText[i].map { UnsafeRawBufferPointer(rebasing: mapping.prefix[$0]) }
    }

    public func view(named name: String) throws(TensorLookupError) -> TensorView {
        guard let info = info(named: name) else { throw TensorLookupError(name: name, source: path) }
        return view(of: info)
    }

    /// The view of one of ``tensors``.
    func view(of info: TensorInfo) -> TensorView {
        let start = header.dataOffset + info.byteRange.lowerBound
        let bytes = UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + info.byteCount)])
        return TensorView(info: info, bytes: bytes, owner: mapping)
    }
}
