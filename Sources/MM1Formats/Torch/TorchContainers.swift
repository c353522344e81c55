import MM1Tensor

/// Reading each container: its pickles through the allowlist, then its storage records, checked.
extension TorchFileContents {
    /// A zip written by `torch.save`.
    init(zip archive: any TorchRecords, in bytes: UnsafeRawBufferPointer, path: String, limits: PickleLimits) throws {
        let names = archive.recordNames
        if names.contains(where: { $0 == "constants.pkl" || $0.hasPrefix("code/") }) { throw FormatError(.pickle(.torchScript), file: path) }
        let pickles = names.filter { $0.hasSuffix(".pkl") }
        guard pickles.count <= 1 else { throw FormatError(.pickle(.multiplePickles), file: path) }
        guard pickles.first == "data.pkl", let pkl = archive.recordRange("data.pkl") else { throw FormatError(.pickle(.missingDataPickle), file: path) }
        if let order = archive.recordRange("byteorder") {
            let text = String(decoding: bytes[order], as: UTF8.self)
            guard text == "little" || text == "big" else {
                throw FormatError(.pickle(.badStructure("byteorder record is \"\(FormatError.abbreviated(text))\", not little or big")), file: path)
            }
            bigEndian = text == "big"
        }
        let run = try TorchPickles.run(bytes, pkl, path: path, limits: limits, trailingBytesAllowed: false)
        globals = run.tree.globals.map(\.qualifiedName)
        state = try TorchPickles.interpret(run.tree, legacy: false, path: path, limits: limits)
        storageRanges = [:]
        for (key, storage) in state.storages {
            let name = "data/" + key
            let tensor = state.firstTensor(using: key)
            guard let range = archive.recordRange(name) else { throw FormatError(.pickle(.missingRecord(name)), file: path, tensor: tensor) }
            guard range.count == storage.byteCount else {
                throw FormatError(.pickle(.recordSizeMismatch(record: name, expected: storage.byteCount, actual: range.count)), file: path, tensor: tensor)
            }
            storageRanges[key] = range
        }
    }

    /// The legacy stacked-pickle format.
    init(legacy bytes: UnsafeRawBufferPointer, path: String, limits: PickleLimits) throws {
        func header(_ why: String) -> FormatError { FormatError(.pickle(.badLegacyHeader(why)), file: path) }
        var globals: [String] = []
        func next(_ at: Int) throws -> (PickleTree, Int) {
            let run = try TorchPickles.run(bytes, at..<bytes.count, path: path, limits: limits, trailingBytesAllowed: true)
            globals += run.tree.globals.map(\.qualifiedName).filter { !globals.contains($0) }
            return (run.tree, run.end)
        }
        let (magic, p1) = try next(0)
        guard case .bigInt(let m) = magic.root, m == Array(TorchCheckpointFile.legacyMagic[4...]) else { throw header("wrong magic number") }
        let (proto, p2) = try next(p1)
        guard proto.root.int == 1001 else { throw header("protocol version \(proto.root.summary), not 1001") }
        let (sysInfo, p3) = try next(p2)
        guard case .dict = sysInfo.root else { throw header("sys_info is \(sysInfo.root.summary), not a dict") }
        let (main, p4) = try next(p3)
        state = try TorchPickles.interpret(main, legacy: true, path: path, limits: limits)
        let (keyList, p5) = try next(p4)
        guard case .list(let list) = keyList.root, let keys = Optional(list.items.compactMap(\.string)), keys.count == list.items.count else {
            throw header("the storage key list is \(keyList.root.summary), not a list of strings")
        }
        self.globals = globals
        let listed = Set(keys)
        if let missing = state.tensors.first(where: { !listed.contains($0.storage.key) }) {
            throw FormatError(.pickle(.missingRecord(missing.storage.key)), file: path, tensor: missing.name)
        }
        // Each storage: int64 little-endian element count, then its bytes.
        storageRanges = [:]
        var position = p5
        for key in keys {
            guard let storage = state.storages[key] else {
                guard TorchStorage.isPlainRecordName(key) else { throw FormatError(.pickle(.badStorageKey(key)), file: path) }
                throw FormatError(.pickle(.badStructure("storage '\(key)' is listed but no tensor uses it")), file: path)
            }
            guard storageRanges[key] == nil else { throw FormatError(.pickle(.badStructure("storage '\(key)' is listed twice")), file: path) }
            guard bytes.count - position >= 8 else { throw FormatError(.pickle(.truncated("the count of storage '\(key)'")), file: path) }
            let count = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: Int64.self))
            let (actual, overflow) = Int(truncatingIfNeeded: count).multipliedReportingOverflow(by: storage.dtype?.byteWidth ?? 1)
            guard count >= 0, !overflow, actual == storage.byteCount else {
                throw FormatError(.pickle(.recordSizeMismatch(record: key, expected: storage.byteCount, actual: overflow || count < 0 ? -1 : actual)),
                                  file: path, tensor: state.firstTensor(using: key))
            }
            position += 8
            guard bytes.count - position >= actual else { throw FormatError(.pickle(.truncated("the data of storage '\(key)'")), file: path) }
            storageRanges[key] = position..<(position + actual)
            position += actual
        }
        guard position == bytes.count else { throw FormatError(.pickle(.trailingBytes(bytes.count - position)), file: path) }
    }

    /// A bare pickle: audited like the others; it has no records to hold tensor data.
    init(pickle bytes: UnsafeRawBufferPointer, path: String, limits: PickleLimits) throws {
        let run = try TorchPickles.run(bytes, 0..<bytes.count, path: path, limits: limits, trailingBytesAllowed: true)
        if run.end < bytes.count {
            // An integer followed by more pickles is the legacy format with the wrong magic number.
            switch run.tree.root {
            case .int, .bigInt: throw FormatError(.pickle(.badLegacyHeader("wrong magic number \(run.tree.root.summary)")), file: path)
            default:
                var error = FormatError(.pickle(.trailingBytes(bytes.count - run.end)), file: path)
                error.byteOffset = run.end
                throw error
            }
        }
        globals = run.tree.globals.map(\.qualifiedName)
        state = try TorchPickles.interpret(run.tree, legacy: false, path: path, limits: limits)
        if let first = state.tensors.first { throw FormatError(.pickle(.missingRecord("data/" + first.storage.key)), file: path, tensor: first.name) }
        throw FormatError(.pickle(.notACheckpoint("a bare pickle, with no tensor data")), file: path)
    }
}

/// The pickle machine and the interpretation, with their failures turned into ``FormatError``s that
/// name the file, the key path and the byte.
enum TorchPickles {
    /// Runs the pickle in `range` of `bytes` through the allowlist.
    static func run(
        _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, path: String, limits: PickleLimits, trailingBytesAllowed: Bool
    ) throws(FormatError) -> (tree: PickleTree, end: Int) {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[range])
        do {
            let run = try PickleMachine.run(slice, limits: limits, trailingBytesAllowed: trailingBytesAllowed, isAllowed: TorchGlobals.isAllowed)
            if let g = run.forbidden {
                var error = FormatError(.pickle(.forbiddenGlobal(module: g.module, name: g.name)), file: path, tensor: PickleLocator.path(of: g, in: run.tree.root) ?? run.forbiddenKeyPath)
                error.byteOffset = range.lowerBound + g.offset
                throw error
            }
            return (run.tree, range.lowerBound + run.end)
        } catch let failure as PickleFailure {
            var error = FormatError(.pickle(failure.violation), file: path, tensor: failure.keyPath)
            error.byteOffset = range.lowerBound + failure.offset
            throw error
        } catch let error as FormatError {
            throw error
        } catch {
            preconditionFailure("unexpected \(error)")
        }
    }

    static func interpret(_ tree: PickleTree, legacy: Bool, path: String, limits: PickleLimits) throws(FormatError) -> TorchStateDict {
        do {
            return try TorchStateDict(tree, legacy: legacy, limits: limits)
        } catch {
            throw FormatError(.pickle(error.violation), file: path, tensor: error.key)
        }
    }
}
