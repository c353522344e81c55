/// The records of a container, by name inside the archive folder (`data.pkl`, `data/0`, `byteorder`):
/// what the torch reader needs of a zip archive. The archive reader validates them first (stored,
/// in bounds, no overlaps, no duplicates).
protocol TorchRecords {
    /// Every record name.
    var recordNames: [String] { get }
    /// The bytes of the record called `name` in the mapped file.
    func recordRange(_ name: String) -> Range<Int>?
}

/// Finds the key path under which a value sits in a pickle's tree, for errors ("key
/// 'model.layers.0.weight'"): a bounded, non-recursive search that visits each object once.
enum PickleLocator {
    /// The dotted dict-key path from the root to the first occurrence of global `g`, or nil when it
    /// is not reachable (or only at the root).
    static func path(of g: PickleGlobal, in root: PickleValue, budget: Int = 1 << 22) -> String? {
        // Each item: a value, its key path, and whether it sits inside a call (whose dicts — a
        // parameter's state, a payload's arguments — are not part of the key path).
        var work: [(PickleValue, [String], Bool)] = [(root, [], false)]
        var visited: Set<ObjectIdentifier> = []
        var budget = budget
        while let (value, path, inCall) = work.popLast(), budget > 0 {
            budget -= 1
            func visit(_ o: AnyObject) -> Bool { visited.insert(ObjectIdentifier(o)).inserted }
            switch value {
            case .global(let x) where x == g: return path.isEmpty ? nil : path.joined(separator: ".")
            case .tuple(let items, _): work += items.reversed().map { ($0, path, inCall) }
            case .persistentID(let v): work.append((v, path, inCall))
            case .list(let l), .set(let l): if visit(l) { work += l.items.reversed().map { ($0, path, inCall) } }
            case .dict(let d):
                guard visit(d) else { continue }
                if let s = d.state { work.append((s, path, inCall)) }
                work += d.entries.reversed().flatMap { e in
                    [(e.value, inCall ? path : path + [TorchStateDict.keyText(e.key)], inCall), (e.key, path, inCall)]
                }
            case .call(let c):
                guard visit(c) else { continue }
                if let s = c.state { work.append((s, path, true)) }
                if let k = c.keywordArguments { work.append((k, path, true)) }
                work += c.arguments.reversed().map { ($0, path, true) }
                work.append((c.callee, path, true))
            default: continue
            }
        }
        return nil
    }
}
