/// A pickle machine that cannot execute: it reads protocols 0–5 and builds an inert ``PickleTree``.
///
/// Python's unpickler looks up every GLOBAL and calls every REDUCE; this one keeps globals as
/// `(module, name)` pairs and turns calls into ``PickleCall`` nodes, so no byte of the file can make
/// anything run. Only pure data constructors are evaluated, as data: `collections.OrderedDict()`
/// becomes an empty dict, `_codecs.encode(s, 'latin1')` bytes, `builtins.set(list)` a set.
///
/// Every global is checked against `isAllowed` when it is read. The tree is still built (so the caller
/// can say under which key a forbidden global sits); but if the pickle then breaks another rule, the
/// forbidden global is what is reported, at its byte.
///
/// Every count and length comes through ``PickleLimits`` and checked arithmetic; the machine never
/// allocates more than the input's size times a small factor, and never recurses.
package final class PickleMachine {
    var input: PickleInput
    private let isAllowed: (PickleGlobal) -> Bool
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]
    private var globals: [PickleGlobal] = []
    private var seenGlobals: Set<String> = []
    private var objects: [AnyObject] = []
    private var nodes = 0
    /// The first global outside the allowlist, and the key path pending when it was read.
    private(set) var forbidden: PickleGlobal?
    private var forbiddenKeyPath: String?

    private init(_ bytes: UnsafeRawBufferPointer, at start: Int, limits: PickleLimits, isAllowed: @escaping (PickleGlobal) -> Bool) {
        input = PickleInput(bytes, at: start, limits: limits)
        self.isAllowed = isAllowed
    }

    /// Runs the pickle that starts at `start` of `bytes` up to its STOP.
    /// - Parameters:
    ///   - trailingBytesAllowed: whether bytes may follow STOP (the legacy format stacks pickles).
    ///   - isAllowed: the allowlist; a global it refuses fails the read (see the type's notes).
    /// - Returns: the tree, its first forbidden global (nil when none) with the dict keys pending on the
    ///   stack when it was read, and the offset after STOP.
    /// - Throws: ``PickleFailure``.
    package static func run(
        _ bytes: UnsafeRawBufferPointer, from start: Int = 0, limits: PickleLimits = .standard,
        trailingBytesAllowed: Bool = false, isAllowed: @escaping (PickleGlobal) -> Bool = { _ in true }
    ) throws(PickleFailure) -> (tree: PickleTree, forbidden: PickleGlobal?, forbiddenKeyPath: String?, end: Int) {
        let machine = PickleMachine(bytes, at: start, limits: limits, isAllowed: isAllowed)
        do throws(PickleFailure) {
            let root = try machine.execute()
            if !trailingBytesAllowed, machine.input.remaining > 0 {
                machine.input.opcodeStart = machine.input.position
                throw machine.input.fail(.trailingBytes(machine.input.remaining))
            }
            let tree = PickleTree(root: root, globals: machine.globals, valueCount: machine.nodes, objects: machine.objects)
            machine.stack = []
            machine.memo = [:]
            return (tree, machine.forbidden, machine.forbiddenKeyPath, machine.input.position)
        } catch {
            let keyPath = machine.pendingKeyPath()
            machine.stack = []
            machine.memo = [:]
            PickleTree.release(machine.objects)
            if let g = machine.forbidden {
                throw PickleFailure(violation: .forbiddenGlobal(module: g.module, name: g.name), offset: g.offset, keyPath: machine.forbiddenKeyPath)
            }
            var failure = error
            failure.keyPath = keyPath
            throw failure
        }
    }

    func fail(_ v: PickleViolation) -> PickleFailure { input.fail(v) }

    /// The keys of the dicts still being filled on the stack, outermost first: for each dict, the key
    /// pushed after it (SETITEM), or after its MARK (SETITEMS) the last key: the one whose value was
    /// being built when the machine stopped (an odd last item is a key still waiting for its value;
    /// otherwise the last pair's value is the one the failing opcode worked on).
    func pendingKeyPath() -> String? {
        let markSet = Set(marks)
        var keys: [String] = []
        func isKey(_ v: PickleValue) -> Bool { v.string != nil || v.int != nil }
        for (j, value) in stack.enumerated() {
            guard case .dict = value else { continue }
            let start = j + 1
            if markSet.contains(start) {
                let end = marks.first(where: { $0 > start }) ?? stack.count
                let n = end - start
                let key = n % 2 == 1 ? end - 1 : end - 2
                if n > 0, key >= start, isKey(stack[key]) { keys.append(TorchStateDict.keyText(stack[key])) }
            } else if start < stack.count, isKey(stack[start]) {
                keys.append(TorchStateDict.keyText(stack[start]))
            }
        }
        return keys.isEmpty ? nil : keys.joined(separator: ".")
    }

    // MARK: The stack

    /// Where the items since the innermost MARK start.
    var base: Int { marks.last ?? 0 }

    func push(_ value: PickleValue, new: Bool = true) throws(PickleFailure) {
        if new {
            nodes += 1
            guard nodes <= input.limits.maxNodes else { throw fail(.nodeLimit(input.limits.maxNodes)) }
        }
        guard stack.count < input.limits.maxContainerItems else { throw fail(.containerLimit(count: stack.count + 1, limit: input.limits.maxContainerItems)) }
        stack.append(value)
    }

    func pop(_ what: String) throws(PickleFailure) -> PickleValue {
        guard stack.count > base else { throw fail(.badStructure("\(what) with nothing on the stack")) }
        return stack.removeLast()
    }

    func top(_ what: String) throws(PickleFailure) -> PickleValue {
        guard stack.count > base else { throw fail(.badStructure("\(what) with nothing on the stack")) }
        return stack[stack.count - 1]
    }

    /// The items pushed since the innermost MARK, which is removed.
    func popMark(_ what: String) throws(PickleFailure) -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail(.badStructure("\(what) without a MARK")) }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    func tuple(_ items: [PickleValue]) throws(PickleFailure) -> PickleValue {
        let depth = 1 + (items.map(\.depth).max() ?? 0)
        guard depth <= input.limits.maxDepth else { throw fail(.depthLimit(input.limits.maxDepth)) }
        return .tuple(items, depth: depth)
    }

    func object<T: AnyObject>(_ o: T) -> T {
        objects.append(o)
        return o
    }

    func checkCount(_ count: Int) throws(PickleFailure) {
        guard count <= input.limits.maxContainerItems else { throw fail(.containerLimit(count: count, limit: input.limits.maxContainerItems)) }
    }

    // MARK: Memo

    private func memoIndex(_ raw: Int) throws(PickleFailure) -> Int {
        guard raw >= 0, raw <= input.limits.maxMemoIndex else { throw fail(.memoLimit(index: raw, limit: input.limits.maxMemoIndex)) }
        return raw
    }

    func put(_ index: Int) throws(PickleFailure) {
        let i = try memoIndex(index)
        let value = try top("PUT")
        if memo[i] == nil, memo.count >= input.limits.maxMemoEntries { throw fail(.memoLimit(index: memo.count + 1, limit: input.limits.maxMemoEntries)) }
        memo[i] = value
    }

    func get(_ index: Int) throws(PickleFailure) {
        let index = try memoIndex(index)
        guard let value = memo[index] else { throw fail(.memoMissing(index)) }
        try push(value, new: false)
    }

    func textIndex(_ what: String) throws(PickleFailure) -> Int {
        let line = try input.line(what)
        guard case .int(let i)? = PickleText.integer(line) else {
            throw fail(PickleText.integer(line) == nil ? .badStructure("\(what) index is not a decimal number") : .memoLimit(index: .max, limit: input.limits.maxMemoIndex))
        }
        return i
    }

    // MARK: Globals and calls

    func global(module: String, name: String) throws(PickleFailure) -> PickleValue {
        let module = module == "__builtin__" ? "builtins" : module  // Python 3's fix_imports for protocols < 3
        let g = PickleGlobal(module: module, name: name, offset: input.opcodeStart)
        if seenGlobals.insert(g.qualifiedName).inserted { globals.append(g) }
        if forbidden == nil, !isAllowed(g) {
            forbidden = g
            forbiddenKeyPath = pendingKeyPath()
        }
        return .global(g)
    }

    func callee(_ value: PickleValue, _ what: String) throws(PickleFailure) -> PickleGlobal {
        guard case .global(let g) = value else { throw fail(.badStructure("\(what) of \(value.summary), which is not a global")) }
        return g
    }

    /// REDUCE: the data constructors evaluated as data, everything else a node.
    func reduce(_ g: PickleGlobal, _ args: [PickleValue]) throws(PickleFailure) -> PickleValue {
        switch (g.module, g.name, args.count) {
        case ("collections", "OrderedDict", 0):
            return .dict(object(PickleDict(ordered: true)))
        case ("_codecs", "encode", 2):
            guard case .string(let text) = args[0], case .string(let encoding) = args[1], ["latin1", "latin-1"].contains(encoding.lowercased()),
                  let bytes = Optional(text.unicodeScalars.map(\.value)), bytes.allSatisfy({ $0 <= 0xFF }) else { break }
            return .bytes(bytes.map { UInt8($0) })
        case ("builtins", "set", 1), ("builtins", "frozenset", 1):
            guard case .list(let l) = args[0] else { break }
            return .set(object(PickleList(l.items)))
        case ("builtins", "set", 0), ("builtins", "frozenset", 0):
            return .set(object(PickleList()))
        default: break
        }
        return .call(object(PickleCall(kind: .reduce, callee: .global(g), arguments: args, offset: input.opcodeStart)))
    }

    func call(_ kind: PickleCall.Kind, _ callee: PickleGlobal, _ args: [PickleValue], keywords: PickleValue? = nil) throws(PickleFailure) -> PickleValue {
        let c = PickleCall(kind: kind, callee: .global(callee), arguments: args, keywordArguments: keywords, offset: input.opcodeStart)
        guard c.depth <= input.limits.maxDepth else { throw fail(.depthLimit(input.limits.maxDepth)) }
        return .call(object(c))
    }
}
