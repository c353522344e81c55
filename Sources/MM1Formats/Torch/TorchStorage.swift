import MM1Tensor

/// A storage a checkpoint's tensors point into, as its persistent id declares it.
package struct TorchStorage: Sendable, Hashable {
    /// The record key (`data/<key>` in a zip, a position in the legacy storage list).
    package let key: String
    /// The element type of a typed storage; nil for `torch.UntypedStorage` (bytes).
    package let dtype: DType?
    /// The declared element count (bytes for an untyped storage).
    package let numel: Int
    /// `numel` × element size: what the record must hold.
    package let byteCount: Int
    /// For a legacy storage view (`view_metadata`): the bytes of the record it covers; otherwise all of them.
    package let view: Range<Int>

    /// Parses a persistent id: `('storage', type, key, location, numel)` in a zip, with a sixth item
    /// (`view_metadata` or None) in the legacy format.
    /// - Throws: ``PickleViolation``: `badPersistentID`, `badStorageKey`, `unsupportedStorage` or `legacyModule`.
    init(persistentID pid: PickleValue, legacy: Bool) throws(PickleViolation) {
        guard let items = pid.tupleItems, let kind = items.first?.string else {
            throw .badPersistentID("\(pid.summary) is not a tuple starting with a string")
        }
        if kind == "module" { throw .legacyModule }
        guard kind == "storage" else { throw .badPersistentID("kind '\(FormatError.abbreviated(kind))' is not 'storage'") }
        guard items.count == (legacy ? 6 : 5) else { throw .badPersistentID("\(items.count) items, not \(legacy ? 6 : 5)") }
        guard case .global(let type) = items[1], type.module == "torch" || (type.module == "torch.storage" && type.name == TorchGlobals.untypedStorage) else { throw .badPersistentID("storage type \(items[1].summary) is not a torch storage") }
        if type.name == TorchGlobals.untypedStorage {
            dtype = nil
        } else if let d = TorchGlobals.storageTypes[type.name] {
            dtype = d
        } else if TorchGlobals.unsupportedStorageTypes.contains(type.name) {
            throw .unsupportedStorage("storage type torch.\(type.name)")
        } else {
            throw .badPersistentID("torch.\(type.name) is not a storage type")
        }
        guard let key = items[2].string else { throw .badPersistentID("key \(items[2].summary) is not a string") }
        guard Self.isPlainRecordName(key) else { throw .badStorageKey(key) }
        guard items[3].string != nil else { throw .badPersistentID("location \(items[3].summary) is not a string") }
        guard let numel = items[4].int, numel >= 0 else { throw .badPersistentID("numel \(items[4].summary) is not a count") }
        let (bytes, overflow) = numel.multipliedReportingOverflow(by: dtype?.byteWidth ?? 1)
        guard !overflow else { throw .badPersistentID("numel \(numel) overflows") }
        self.key = key
        self.numel = numel
        byteCount = bytes
        view = try Self.view(legacy ? items[5] : .none, elementSize: dtype?.byteWidth ?? 1, byteCount: bytes)
    }

    /// Legacy `view_metadata` `(view_key, offset, size)` in elements, as a byte range of the storage.
    private static func view(_ metadata: PickleValue, elementSize: Int, byteCount: Int) throws(PickleViolation) -> Range<Int> {
        if case .none = metadata { return 0..<byteCount }
        guard let v = metadata.tupleItems, v.count == 3, let viewKey = v[0].string, let offset = v[1].int, let size = v[2].int,
              offset >= 0, size >= 0 else { throw .badPersistentID("view metadata \(metadata.summary) is not (key, offset, size)") }
        guard isPlainRecordName(viewKey) else { throw .badStorageKey(viewKey) }
        let (start, o1) = offset.multipliedReportingOverflow(by: elementSize)
        let (count, o2) = size.multipliedReportingOverflow(by: elementSize)
        let (end, o3) = start.addingReportingOverflow(count)
        guard !o1, !o2, !o3, end <= byteCount else { throw .viewOutOfBounds("storage view of \(size) elements at \(offset) in a storage of \(byteCount) bytes") }
        return start..<end
    }

    /// Whether `key` is a plain record name: 1–64 of `[A-Za-z0-9_.-]`, not starting with a dot (so no
    /// `..`, no separators, no absolute paths). torch writes decimal keys.
    static func isPlainRecordName(_ key: String) -> Bool {
        let u = key.utf8
        guard !u.isEmpty, u.count <= 64, u.first != UInt8(ascii: ".") else { return false }
        return u.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D || c == 0x2E
        }
    }

    /// Whether two references describe the same storage (the same key must mean the same type and size).
    func isSameStorage(as other: TorchStorage) -> Bool { key == other.key && dtype == other.dtype && numel == other.numel }
}

/// One tensor of a checkpoint: where it is in which storage, and its layout, in elements as torch records them.
package struct TorchTensorRecord: Sendable {
    package let name: String
    package let dtype: DType
    package let shape: Shape
    package let strides: [Int]
    /// Offset into the storage, in elements of `dtype`.
    package let storageOffset: Int
    package let storage: TorchStorage

    /// Whether the tensor is its storage's bytes from `storageOffset` on, row-major, with no gaps.
    package var isContiguous: Bool {
        var expected = 1
        for (size, stride) in zip(shape.dimensions, strides).reversed() where size != 1 {
            if stride != expected { return false }
            expected *= size
        }
        return true
    }

    /// Byte count of the tensor's contiguous copy.
    package var byteCount: Int { shape.elementCount * (dtype.byteWidth ?? 1) }

    /// Most bytes a view may have beyond its storage's own: stride-0 (broadcast) views are copied out when
    /// viewed, so their expansion is capped.
    static let maxBroadcastBytes = 256 << 20

    /// Checks the view against its storage: offset + Σ(size − 1)·stride < the storage's elements, in
    /// checked arithmetic; the contiguous copy's size must be representable, and no larger than the
    /// storage unless within ``maxBroadcastBytes``.
    func checkBounds() throws(PickleViolation) {
        let width = dtype.byteWidth ?? 1
        let (bytes, o0) = shape.elementCount.multipliedReportingOverflow(by: width)
        guard !o0, bytes <= max(storage.view.count, Self.maxBroadcastBytes) else {
            throw .viewOutOfBounds("\(shape) of \(dtype) is larger than its \(storage.view.count)-byte storage can provide")
        }
        guard shape.elementCount > 0 else {
            let (start, o) = storageOffset.multipliedReportingOverflow(by: width)
            guard !o, start <= storage.view.count else { throw .viewOutOfBounds("offset \(storageOffset) is past the end of a \(storage.view.count)-byte storage") }
            return
        }
        var last = storageOffset
        for (size, stride) in zip(shape.dimensions, strides) {
            let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, o2) = last.addingReportingOverflow(step)
            guard !o1, !o2 else { throw .viewOutOfBounds("offset and strides overflow") }
            last = sum
        }
        let (end, o3) = (last + 1).multipliedReportingOverflow(by: width)
        guard !o3, last < Int.max, end <= storage.view.count else {
            throw .viewOutOfBounds("\(shape) with strides \(strides) at offset \(storageOffset) needs element \(last) of a \(storage.view.count)-byte storage of \(dtype)")
        }
    }
}
