import MM1Tensor

/// What a checkpoint's pickle holds, interpreted: its tensors by dotted key path, its other values as
/// metadata, and what was done to the names.
///
/// How names are made:
/// 1. Nested dicts give dotted names (`{'model': {'w': t}}` → `model.w`); int keys and list positions
///    are written in decimal.
/// 2. A top-level wrapper (`state_dict` of Lightning, `model_state_dict`, `model`, `module`, `ema`) that is
///    itself a dict holding tensors is unwrapped; tensors outside it (optimizer state) are left out.
///    A flat key such as Hugging Face's `model.layers.0…` is not a wrapper: only nesting is unwrapped.
/// 3. A `module.` (DataParallel) or `_orig_mod.` (`torch.compile`) prefix on every name is removed.
/// Each step taken is reported as a warning.
package struct TorchStateDict {
    /// The tensors, in the order the pickle lists them.
    package private(set) var tensors: [TorchTensorRecord] = []
    /// Non-tensor values (`epoch`, `step`, …) by key path, rendered as text.
    package private(set) var metadata: [String: String] = [:]
    package private(set) var warnings: [String] = []
    /// Every storage referenced, by key.
    package internal(set) var storages: [String: TorchStorage] = [:]

    /// The first tensor (in pickle order, by its final name) that uses storage `key`, for errors.
    package func firstTensor(using key: String) -> String? { tensors.first { $0.storage.key == key }?.name }

    /// The wrappers of rule 2, in the order they are tried.
    package static let wrapperKeys = ["state_dict", "model_state_dict", "model", "module", "ema"]
    /// Name prefixes of rule 3.
    package static let wrapperPrefixes = ["module.", "_orig_mod."]
    /// Visits of the walk per value the pickle created, beyond which sharing is taken as an attack.
    static let visitsPerValue = 16
    /// Most non-tensor values kept as metadata; the rest are counted.
    static let maxMetadata = 256

    let legacy: Bool
    let limits: PickleLimits
    private var budget: Int
    private var visitCap = 0
    private var onPath: Set<ObjectIdentifier> = []
    private var found: [(path: [String], record: TorchTensorRecord)] = []
    private var values: [(path: [String], text: String)] = []

    /// Interprets a checkpoint's main pickle.
    /// - Throws: ``TorchReadFailure``.
    package init(_ tree: PickleTree, legacy: Bool, limits: PickleLimits = .standard) throws(TorchReadFailure) {
        self.legacy = legacy
        self.limits = limits
        // Values shared through the memo are walked once per reference: a few dozen lists referencing
        // each other twice make 2^40 paths. Real checkpoints reference each value about once.
        budget = min(limits.maxNodes, Self.visitsPerValue * tree.valueCount + 10_000)
        visitCap = budget
        guard case .dict(let top) = tree.root else {
            throw TorchReadFailure(.notACheckpoint("the pickle holds \(tree.root.summary), not a dict of tensors"))
        }
        try walk(tree.root, [], depth: 0)
        var paths = found
        var prefix: [String] = []
        var current = top
        // Rule 2.
        while prefix.count < 4, let (key, inner) = Self.wrapper(in: current, holding: paths.map(\.path), below: prefix) {
            let outside = paths.filter { !$0.path.starts(with: prefix + [key]) }
            warnings.append("tensors are nested under '\((prefix + [key]).joined(separator: "."))': unwrapped")
            if !outside.isEmpty {
                warnings.append("\(outside.count) tensor\(outside.count == 1 ? "" : "s") outside it left out: "
                    + outside.prefix(3).map { $0.path.joined(separator: ".") }.joined(separator: ", ") + (outside.count > 3 ? ", …" : ""))
            }
            paths = paths.filter { $0.path.starts(with: prefix + [key]) }
            prefix.append(key)
            current = inner
        }
        var names = paths.map { $0.path.dropFirst(prefix.count).joined(separator: ".") }
        // Rule 3.
        var stripped = true
        while stripped {
            stripped = false
            for p in Self.wrapperPrefixes where !names.isEmpty && names.allSatisfy({ $0.hasPrefix(p) && $0.count > p.count }) {
                names = names.map { String($0.dropFirst(p.count)) }
                warnings.append("prefix '\(p)' removed from every tensor name")
                stripped = true
            }
        }
        var seen: Set<String> = []
        for (name, p) in zip(names, paths) {
            guard seen.insert(name).inserted else { throw TorchReadFailure(.badStructure("two tensors are named '\(name)'"), key: name) }
            let r = p.record
            tensors.append(TorchTensorRecord(name: name, dtype: r.dtype, shape: r.shape, strides: r.strides, storageOffset: r.storageOffset, storage: r.storage))
        }
        for v in values.prefix(Self.maxMetadata) { metadata[v.path.joined(separator: ".")] = v.text }
        if !values.isEmpty {
            warnings.append("\(values.count) non-tensor value\(values.count == 1 ? "" : "s") read as metadata, not as tensors: "
                + values.prefix(4).map { $0.path.joined(separator: ".") }.joined(separator: ", ") + (values.count > 4 ? ", …" : ""))
        }
    }

    /// The first wrapper key of `dict` that is a dict holding some of the tensors.
    private static func wrapper(in dict: PickleDict, holding paths: [[String]], below prefix: [String]) -> (String, PickleDict)? {
        for key in wrapperKeys {
            guard let entry = dict.entries.last(where: { $0.key.string == key }), case .dict(let inner) = entry.value,
                  paths.contains(where: { $0.starts(with: prefix + [key]) }) else { continue }
            return (key, inner)
        }
        return nil
    }

    // MARK: The walk

    private mutating func walk(_ v: PickleValue, _ path: [String], depth: Int) throws(TorchReadFailure) {
        budget -= 1
        guard budget >= 0 else {
            // Shared values expanded into more paths than the cap: a container limit on the expanded tree.
            throw TorchReadFailure(.containerLimit(count: visitCap + 1, limit: visitCap))
        }
        // Named by the top-level key it sits under (its full path is as deep as the cap).
        guard depth <= limits.maxDepth else { throw TorchReadFailure(.depthLimit(limits.maxDepth), Array(path.prefix(1))) }
        if let record = try tensor(v, path) {
            found.append((path, record))
            return
        }
        switch v {
        case .dict(let d):
            try enter(d, path) { (me) throws(TorchReadFailure) in
                for e in d.entries { try me.walk(e.value, path + [Self.keyText(e.key)], depth: depth + 1) }
            }
        case .list(let l):
            try enter(l, path) { (me) throws(TorchReadFailure) in
                for (i, item) in l.items.enumerated() { try me.walk(item, path + [String(i)], depth: depth + 1) }
            }
        case .tuple(let items, _):
            for (i, item) in items.enumerated() { try walk(item, path + [String(i)], depth: depth + 1) }
        case .persistentID(let pid):
            if pid.tupleItems?.first?.string == "module" { throw TorchReadFailure(.legacyModule, path) }
            throw TorchReadFailure(.badStructure("a storage outside any tensor"), path)
        default:
            values.append((path, v.summary))
        }
    }

    /// Walks into an object, refusing one that contains itself.
    private mutating func enter(_ o: AnyObject, _ path: [String], _ body: (inout TorchStateDict) throws(TorchReadFailure) -> Void) throws(TorchReadFailure) {
        let id = ObjectIdentifier(o)
        guard onPath.insert(id).inserted else { throw TorchReadFailure(.badStructure("a container contains itself"), path) }
        defer { onPath.remove(id) }
        try body(&self)
    }

    static func keyText(_ key: PickleValue) -> String {
        switch key {
        case .string(let s): s
        default: key.summary
        }
    }
}

/// A violation found while interpreting a pickle, with the key path it sits under.
package struct TorchReadFailure: Error, Sendable {
    package let violation: PickleViolation
    /// The dotted key path, when known.
    package let key: String?
    init(_ violation: PickleViolation, key: String? = nil) {
        self.violation = violation
        self.key = key
    }
    init(_ violation: PickleViolation, _ path: [String]) {
        self.init(violation, key: path.isEmpty ? nil : path.joined(separator: "."))
    }
}
