import MM1Tensor

/// One PyTorch checkpoint file (`.bin`, `.pt`, `.pth`), memory-mapped and read without executing
/// anything: a ``PickleMachine`` builds inert values, ``TorchGlobals`` decides which names may appear,
/// ``TorchStateDict`` finds the tensors, and every storage record is checked before it is used.
///
/// Containers:
/// 1. torch's zip format (torch ≥ 1.6): `data.pkl`, `data/<key>`, `byteorder` (`big` data is byte-swapped
///    when viewed; a missing record means little-endian). TorchScript archives are refused by name.
/// 2. The legacy stacked-pickle format (torch < 1.6, or `_use_new_zipfile_serialization=False`): magic
///    number, protocol 1001, `sys_info`, the main pickle, the storage keys, then each storage's int64
///    count and its little-endian bytes.
/// 3. A bare pickle (`pickle.dump` of a dict): read and audited, but it has no storage records, so any
///    tensor in it is a missing record.
///
/// Contiguous little-endian tensors are zero-copy views of the mapping; strided or offset views (a
/// saved `w.t()`, a slice) and big-endian data are copied, contiguous and row-major, when viewed.
/// Tensors sharing a storage (tied weights) are listed under every name.
public final class TorchCheckpointFile: TensorSource, @unchecked Sendable {
    /// How the file is laid out.
    public enum Container: String, Sendable {
        case zip, legacy, pickle

        /// The container a file starting with `bytes` is, by signature, as `torch.load` decides: a zip local
        /// header, the legacy format's magic-number pickle, or any other pickle (PROTO ≤ 5); nil for none.
        static func sniff(_ bytes: UnsafeRawBufferPointer) -> Container? {
            if TorchZipArchive.hasMagic(bytes) { return .zip }
            if bytes.starts(with: legacyMagic) { return .legacy }
            if bytes.count >= 3, bytes[0] == 0x80, bytes[1] <= 5 { return .pickle }
            return nil
        }

        /// The signatures that decide a container by themselves (zip and legacy; a bare pickle's PROTO byte
        /// does not), for readers that see a file's first bytes as they arrive.
        static let signatures: [[UInt8]] = [[0x50, 0x4B, 0x03, 0x04], legacyMagic]
    }

    public let path: String
    public let mapping: MappedFile
    public let container: Container
    /// Every global the file's pickles name (`torch._utils._rebuild_tensor_v2`, …), in order of appearance.
    public let globals: [String]
    /// Every tensor, sorted by name.
    public let tensors: [TensorInfo]
    /// Non-tensor values of the pickle (`epoch`, …) by key path.
    public let metadata: [String: String]
    /// What was unwrapped or left out.
    public let warnings: [String]
    /// Whether the storages hold big-endian data.
    public let isBigEndian: Bool
    private let records: [String: (record: TorchTensorRecord, storage: Range<Int>)]

    /// The legacy format's first bytes: PROTO 2, then LONG1 of 10 bytes holding its magic number.
    static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// Maps and reads `path`.
    /// - Throws: ``FileSystemError``, or ``FormatError`` (``PickleViolation``, or the zip reader's violations).
    public init(path: String, limits: PickleLimits = .standard) throws {
        self.path = path
        mapping = try MappedFile(path: path)
        let bytes = mapping.bytes
        let read: TorchFileContents
        // A tar is told before a bare pickle: its first bytes are a member's name, which may be anything.
        guard let kind = Container.sniff(bytes), kind != .pickle || !Self.isTar(bytes) else {
            if Self.isTar(bytes) { throw FormatError(.pickle(.tarFormat), file: path) }
            throw FormatError(.pickle(.notACheckpoint("no zip, legacy torch or pickle signature")), file: path)
        }
        container = kind
        switch kind {
        case .zip: read = try TorchFileContents(zip: try TorchZipOpening.records(of: mapping), in: bytes, path: path, limits: limits)
        case .legacy: read = try TorchFileContents(legacy: bytes, path: path, limits: limits)
        case .pickle: read = try TorchFileContents(pickle: bytes, path: path, limits: limits)
        }
        globals = read.globals
        metadata = read.state.metadata
        warnings = read.state.warnings
        isBigEndian = read.bigEndian
        var records: [String: (TorchTensorRecord, Range<Int>)] = [:]
        var infos: [TensorInfo] = []
        for r in read.state.tensors {
            let storage = read.storageRanges[r.storage.key]!
            let view = (storage.lowerBound + r.storage.view.lowerBound)..<(storage.lowerBound + r.storage.view.upperBound)
            let width = r.dtype.byteWidth ?? 1
            let zeroCopy = r.isContiguous && (!read.bigEndian || width == 1)
            let start = view.lowerBound + r.storageOffset * width  // in bounds: checked with the view
            infos.append(TensorInfo(name: r.name, dtype: r.dtype, shape: r.shape,
                                    byteRange: zeroCopy ? start..<(start + r.byteCount) : 0..<r.byteCount))
            records[r.name] = (r, view)
        }
        tensors = infos.sorted { TensorInfo.nameOrder($0.name, $1.name) }
        self.records = records
    }

    /// Whether `bytes` is a tar archive (`ustar` at byte 257): torch's format before 0.1.10.
    static func isTar(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 262 && bytes[257..<262].elementsEqual("ustar".utf8)
    }

    public var sourceDescription: String { path }

    public func info(named name: String) -> TensorInfo? { tensors.sortedPosition(of: name).map { tensors[$0] } }

    public func view(named name: String) throws(TensorLookupError) -> TensorView {
        guard let info = info(named: name), let (record, storage) = records[name] else { throw TensorLookupError(name: name, source: path) }
        let width = record.dtype.byteWidth ?? 1
        if record.isContiguous && (!isBigEndian || width == 1) {
            return TensorView(info: info, bytes: UnsafeRawBufferPointer(rebasing: mapping.bytes[info.byteRange]), owner: mapping)
        }
        let source = UnsafeRawBufferPointer(rebasing: mapping.bytes[storage])
        return withExtendedLifetime(mapping) {
            TensorView(info: info) { out in
                StridedCopy.gather(record, from: source, into: out, swapUnit: isBigEndian ? (record.dtype == .c64 ? 4 : width) : 1)
            }
        }
    }
}

/// What reading one file's container and pickles found.
struct TorchFileContents {
    var state: TorchStateDict
    var globals: [String]
    var storageRanges: [String: Range<Int>]
    var bigEndian = false
}
