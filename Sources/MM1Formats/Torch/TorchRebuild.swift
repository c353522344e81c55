import MM1Tensor

/// Reading the calls to torch's rebuild functions (`torch/_utils.py`, `torch/_tensor.py`) as tensor
/// records, argument by argument, without calling anything.
extension TorchStateDict {
    /// The tensor `v` rebuilds, or nil when it is no rebuild call.
    /// - Throws: ``TorchReadFailure`` when it is one, with arguments that do not describe a tensor.
    mutating func tensor(_ v: PickleValue, _ path: [String]) throws(TorchReadFailure) -> TorchTensorRecord? {
        guard case .call(let c) = v, let g = c.global else { return nil }
        do {
            if g.module == "torch._tensor", g.name == "_rebuild_from_type_v2" {
                // (func, new_type, args, state): only a rebuild of a Tensor or Parameter.
                let a = c.arguments
                guard a.count == 4, case .global(let f) = a[0], let rebuild = TorchGlobals.rebuild(f), TorchGlobals.isTensorType(a[1]),
                      let inner = a[2].tupleItems else {
                    throw PickleViolation.badRebuildArguments("_rebuild_from_type_v2 must wrap a tensor rebuild of torch.Tensor or Parameter")
                }
                return try record(rebuild, inner, path)
            }
            guard let rebuild = TorchGlobals.rebuild(g) else { return nil }
            return try record(rebuild, c.arguments, path)
        } catch let violation as PickleViolation {
            throw TorchReadFailure(violation, path)
        } catch let failure as TorchReadFailure {
            throw failure
        } catch {
            preconditionFailure("unexpected \(error)")
        }
    }

    private mutating func record(_ rebuild: TorchGlobals.Rebuild, _ a: [PickleValue], _ path: [String]) throws -> TorchTensorRecord {
        func bad(_ why: String) -> PickleViolation { .badRebuildArguments("\(rebuild.rawValue): \(why)") }
        switch rebuild {
        case .parameter, .parameterWithState:
            guard a.count == (rebuild == .parameter ? 3 : 4), case .bool = a[1] else { throw bad("expected (data, requires_grad, hooks\(rebuild == .parameter ? "" : ", state"))") }
            guard let inner = try tensor(a[0], path) else { throw bad("data \(a[0].summary) is not a tensor") }
            return inner
        case .tensor, .tensorV2, .tensorV3:
            let counts: [Int] = switch rebuild {
            case .tensor: [4]
            case .tensorV2: [6, 7]
            default: [7, 8]
            }
            guard counts.contains(a.count) else { throw bad("\(a.count) arguments, not \(counts.map(String.init).joined(separator: " or "))") }
            guard case .persistentID(let pid) = a[0] else { throw bad("storage \(a[0].summary) is not a persistent id") }
            let storage = try TorchStorage(persistentID: pid, legacy: legacy)
            if let known = storages[storage.key] {
                guard known.isSameStorage(as: storage) else { throw PickleViolation.badPersistentID("storage '\(storage.key)' is declared twice with different types or sizes") }
            } else {
                storages[storage.key] = storage
            }
            guard let offset = a[1].int else { throw bad("storage offset \(a[1].summary) is not an integer") }
            guard offset >= 0 else { throw PickleViolation.viewOutOfBounds("storage offset \(offset) is negative") }
            let size = try Self.integers(a[2], "size", bad)
            let stride = try Self.integers(a[3], "stride", bad)
            guard size.count == stride.count, size.count <= ReadLimits.standard.maxRank else { throw bad("size \(size) and stride \(stride) do not match") }
            guard size.allSatisfy({ $0 >= 0 }), stride.allSatisfy({ $0 >= 0 }) else { throw bad("negative size or stride") }
            guard let shape = try? Shape(size) else { throw PickleViolation.viewOutOfBounds("size \(size) has more elements than can be addressed") }
            var dtype = storage.dtype ?? .u8
            if rebuild == .tensorV3 {
                guard case .global(let d) = a[6], d.module == "torch" else { throw bad("dtype \(a[6].summary) is not a torch dtype") }
                guard let known = TorchGlobals.dtypes[d.name] else {
                    throw TorchGlobals.unsupportedDTypes.contains(d.name) ? PickleViolation.unsupportedStorage("dtype torch.\(d.name)") : bad("torch.\(d.name) is not a dtype")
                }
                dtype = known
            }
            if let metadata = a.count == counts.last! && rebuild != .tensor ? a[a.count - 1] : nil {
                try Self.checkMetadata(metadata, bad)
            }
            let r = TorchTensorRecord(name: "", dtype: dtype, shape: shape, strides: stride, storageOffset: offset, storage: storage)
            try r.checkBounds()
            return r
        }
    }

    /// A tuple of ints, or a `torch.Size` of one.
    private static func integers(_ v: PickleValue, _ what: String, _ bad: (String) -> PickleViolation) throws -> [Int] {
        var v = v
        if case .call(let c) = v, let g = c.global, g.module == "torch", g.name == "Size", c.arguments.count == 1 { v = c.arguments[0] }
        guard let items = v.tupleItems else { throw bad("\(what) \(v.summary) is not a tuple") }
        return try items.map { item throws in
            guard let i = item.int else { throw bad("\(what) holds \(item.summary), not an integer") }
            return i
        }
    }

    /// The tensor metadata dict of v2/v3: conjugate or negative bits set would change the values.
    private static func checkMetadata(_ v: PickleValue, _ bad: (String) -> PickleViolation) throws {
        switch v {
        case .none: return
        case .dict(let d):
            if let set = d.entries.first(where: { if case .bool(true) = $0.value { true } else { false } }) {
                throw bad("tensor metadata \(set.key.summary) is set (conjugate/negative views are not read)")
            }
        default: throw bad("metadata \(v.summary) is not a dict")
        }
    }
}
