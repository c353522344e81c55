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
        var work: [(PickleValue, [String])] = [(root, [])]
        var visited: Set<ObjectIdentifier> = []
        var budget = budget
        while let (value, path) = work.popLast(), budget > 0 {
            budget -= 1
            func visit(_ o: AnyObject) -> Bool { visited.insert(ObjectIdentifier(o)).inserted }
            switch value {
            case .global(let x) where x == g: return path.isEmpty ? nil : path.joined(separator: ".")
            case .tuple(let items, _): work += items.reversed().map { ($0, path) }
            case .persistentID(let v): work.append((v, path))
            case .list(let l), .set(let l): if visit(l) { work += l.items.reversed().map { ($0, path) } }
            case .dict(let d):
                guard visit(d) else { continue }
                if let s = d.state { work.append((s, path)) }
                work += d.entries.reversed().flatMap { [($0.value, path + [TorchStateDict.keyText($0.key)]), ($0.key, path)] }
            case .call(let c):
                guard visit(c) else { continue }
                if let s = c.state { work.append((s, path)) }
                if let k = c.keywordArguments { work.append((k, path)) }
                work += c.arguments.reversed().map { ($0, path) }
                work.append((c.callee, path))
            default: continue
            }
        }
        return nil
    }
}
