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
public final class PickleMachine {
    private var input: PickleInput
    private let isAllowed: (PickleGlobal) -> Bool
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
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
    public static func run(
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

    private func fail(_ v: PickleViolation) -> PickleFailure { input.fail(v) }

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
    private var base: Int { marks.last ?? 0 }

    private func push(_ value: PickleValue, new: Bool = true) throws(PickleFailure) {
        if new {
            nodes += 1
            guard nodes <= input.limits.maxNodes else { throw fail(.nodeLimit(input.limits.maxNodes)) }
        }
        guard stack.count < input.limits.maxContainerItems else { throw fail(.containerLimit(count: stack.count + 1, limit: input.limits.maxContainerItems)) }
        stack.append(value)
    }

    private func pop(_ what: String) throws(PickleFailure) -> PickleValue {
        guard stack.count > base else { throw fail(.badStructure("\(what) with nothing on the stack")) }
        return stack.removeLast()
    }

    private func top(_ what: String) throws(PickleFailure) -> PickleValue {
        guard stack.count > base else { throw fail(.badStructure("\(what) with nothing on the stack")) }
        return stack[stack.count - 1]
    }

    /// The items pushed since the innermost MARK, which is removed.
    private func popMark(_ what: String) throws(PickleFailure) -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail(.badStructure("\(what) without a MARK")) }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private func tuple(_ items: [PickleValue]) throws(PickleFailure) -> PickleValue {
        let depth = 1 + (items.map(\.depth).max() ?? 0)
        guard depth <= input.limits.maxDepth else { throw fail(.depthLimit(input.limits.maxDepth)) }
        return .tuple(items, depth: depth)
    }

    private func object<T: AnyObject>(_ o: T) -> T {
        objects.append(o)
        return o
    }

    private func checkCount(_ count: Int) throws(PickleFailure) {
        guard count <= input.limits.maxContainerItems else { throw fail(.containerLimit(count: count, limit: input.limits.maxContainerItems)) }
    }

    // MARK: Memo

    private func memoIndex(_ raw: Int) throws(PickleFailure) -> Int {
        guard raw >= 0, raw <= input.limits.maxMemoIndex else { throw fail(.memoLimit(index: raw, limit: input.limits.maxMemoIndex)) }
        return raw
    }

    private func put(_ index: Int) throws(PickleFailure) {
        let i = try memoIndex(index)
        let value = try top("PUT")
        if memo[i] == nil, memo.count >= input.limits.maxMemoEntries { throw fail(.memoLimit(index: memo.count + 1, limit: input.limits.maxMemoEntries)) }
        memo[i] = value
    }

    private func get(_ index: Int) throws(PickleFailure) {
        let index = try memoIndex(index)
        guard let value = memo[index] else { throw fail(.memoMissing(index)) }
        try push(value, new: false)
    }

    private func textIndex(_ what: String) throws(PickleFailure) -> Int {
        let line = try input.line(what)
        guard case .int(let i)? = PickleText.integer(line) else {
            throw fail(PickleText.integer(line) == nil ? .badStructure("\(what) index is not a decimal number") : .memoLimit(index: .max, limit: input.limits.maxMemoIndex))
        }
        return i
    }

    // MARK: Globals and calls

    private func global(module: String, name: String) throws(PickleFailure) -> PickleValue {
        let module = module == "__builtin__" ? "builtins" : module  // Python 3's fix_imports for protocols < 3
        let g = PickleGlobal(module: module, name: name, offset: input.opcodeStart)
        if seenGlobals.insert(g.qualifiedName).inserted { globals.append(g) }
        if forbidden == nil, !isAllowed(g) {
            forbidden = g
            forbiddenKeyPath = pendingKeyPath()
        }
        return .global(g)
    }

    private func callee(_ value: PickleValue, _ what: String) throws(PickleFailure) -> PickleGlobal {
        guard case .global(let g) = value else { throw fail(.badStructure("\(what) of \(value.summary), which is not a global")) }
        return g
    }

    /// REDUCE: the data constructors evaluated as data, everything else a node.
    private func reduce(_ g: PickleGlobal, _ args: [PickleValue]) throws(PickleFailure) -> PickleValue {
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

    private func call(_ kind: PickleCall.Kind, _ callee: PickleGlobal, _ args: [PickleValue], keywords: PickleValue? = nil) throws(PickleFailure) -> PickleValue {
        let c = PickleCall(kind: kind, callee: .global(callee), arguments: args, keywordArguments: keywords, offset: input.opcodeStart)
        guard c.depth <= input.limits.maxDepth else { throw fail(.depthLimit(input.limits.maxDepth)) }
        return .call(object(c))
    }
}

extension PickleMachine {
    /// Reads opcodes up to STOP and returns what it pops.
    fileprivate func execute() throws(PickleFailure) -> PickleValue {
        while true {
            input.opcodeStart = input.position
            let byte = try input.byte("an opcode (no STOP)")
            guard let op = PickleOpcode(rawValue: byte) else { throw fail(.unknownOpcode(byte)) }
            if let name = op.forbiddenName { throw fail(.forbiddenOpcode(name)) }
            if op == .stop { return try pop("STOP") }
            try step(op)
        }
    }

    private func step(_ op: PickleOpcode) throws(PickleFailure) {
        switch op {
        case .proto:
            let version = try input.byte("PROTO")
            guard version <= 5 else { throw fail(.badStructure("protocol \(version) is not 0–5")) }
        case .frame:
            let length = try input.little(UInt64.self, "FRAME")
            guard length <= UInt64(input.remaining) else { throw fail(.truncated("a frame of \(length) bytes")) }
        case .mark:
            guard marks.count < input.limits.maxDepth else { throw fail(.depthLimit(input.limits.maxDepth)) }
            marks.append(stack.count)
        case .pop:
            if stack.count > base { stack.removeLast() } else { _ = try popMark("POP") }
        case .popMark: _ = try popMark("POP_MARK")
        case .dup: try push(try top("DUP"), new: false)
        case .none: try push(.none)
        case .newTrue: try push(.bool(true))
        case .newFalse: try push(.bool(false))
        case .binInt: try push(.int(Int(try input.little(Int32.self, "BININT"))))
        case .binInt1: try push(.int(Int(try input.byte("BININT1"))))
        case .binInt2: try push(.int(Int(try input.little(UInt16.self, "BININT2"))))
        case .int:
            let line = try input.line("INT")
            if line.elementsEqual("00".utf8) || line.elementsEqual("01".utf8) { try push(.bool(line[1] == 0x31)); return }
            guard let v = PickleText.integer(line) else { throw fail(.badStructure("INT is not a decimal number")) }
            try push(v)
        case .long:
            guard let v = PickleText.integer(try input.line("LONG")) else { throw fail(.badStructure("LONG is not a decimal number")) }
            try push(v)
        case .long1:
            let n = try input.byte("LONG1")
            try push(PickleText.integer(littleEndian: try input.take(Int(n), "LONG1")))
        case .long4:
            let n = try input.little(Int32.self, "LONG4")
            guard n >= 0 else { throw fail(.badStructure("LONG4 with a negative length")) }
            try push(PickleText.integer(littleEndian: try input.length(UInt64(n), "LONG4")))
        case .float:
            let text = String(decoding: try input.line("FLOAT"), as: UTF8.self)
            guard let v = Double(text) else { throw fail(.badStructure("FLOAT \"\(text.prefix(40))\" is not a number")) }
            try push(.float(v))
        case .binFloat:
            try push(.float(Double(bitPattern: UInt64(bigEndian: try input.take(8, "BINFLOAT").loadUnaligned(as: UInt64.self)))))
        case .string:
            guard let bytes = PickleText.quoted(try input.line("STRING")) else { throw fail(.badStructure("STRING is not a quoted literal")) }
            try push(.string(PickleText.latin1OrUTF8(bytes)))
        case .binString:
            let n = try input.little(Int32.self, "BINSTRING")
            guard n >= 0 else { throw fail(.badStructure("BINSTRING with a negative length")) }
            try push(.string(PickleText.latin1OrUTF8(Array(try input.length(UInt64(n), "BINSTRING")))))
        case .shortBinString:
            let n = try input.byte("SHORT_BINSTRING")
            try push(.string(PickleText.latin1OrUTF8(Array(try input.take(Int(n), "SHORT_BINSTRING")))))
        case .unicode:
            guard let text = PickleText.rawUnicodeEscape(try input.line("UNICODE")) else { throw fail(.badStructure("UNICODE has a bad escape")) }
            try push(.string(text))
        case .shortBinUnicode: try pushText(UInt64(try input.byte("SHORT_BINUNICODE")), "SHORT_BINUNICODE")
        case .binUnicode: try pushText(UInt64(try input.little(UInt32.self, "BINUNICODE")), "BINUNICODE")
        case .binUnicode8: try pushText(try input.little(UInt64.self, "BINUNICODE8"), "BINUNICODE8")
        case .shortBinBytes: try push(.bytes(Array(try input.take(Int(try input.byte("SHORT_BINBYTES")), "SHORT_BINBYTES"))))
        case .binBytes: try push(.bytes(Array(try input.length(UInt64(try input.little(UInt32.self, "BINBYTES")), "BINBYTES"))))
        case .binBytes8: try push(.bytes(Array(try input.length(try input.little(UInt64.self, "BINBYTES8"), "BINBYTES8"))))
        case .byteArray8: try push(.bytes(Array(try input.length(try input.little(UInt64.self, "BYTEARRAY8"), "BYTEARRAY8"))))
        case .readonlyBuffer: _ = try top("READONLY_BUFFER")
        default: try structure(op)
        }
    }

    private func pushText(_ length: UInt64, _ what: String) throws(PickleFailure) {
        try push(.string(try input.utf8(try input.length(length, what), what)))
    }

    /// Containers, memo, globals and calls.
    private func structure(_ op: PickleOpcode) throws(PickleFailure) {
        switch op {
        case .emptyTuple: try push(.tuple([], depth: 1))
        case .tuple: try push(try tuple(try popMark("TUPLE")))
        case .tuple1, .tuple2, .tuple3:
            let n = Int(op.rawValue - PickleOpcode.tuple1.rawValue) + 1
            guard stack.count - base >= n else { throw fail(.badStructure("TUPLE\(n) with fewer than \(n) items on the stack")) }
            let items = Array(stack[(stack.count - n)...])
            stack.removeLast(n)
            try push(try tuple(items))
        case .emptyList: try push(.list(object(PickleList())))
        case .list: try push(.list(object(PickleList(try popMark("LIST")))))
        case .emptyDict: try push(.dict(object(PickleDict(ordered: false))))
        case .dict:
            let items = try popMark("DICT")
            let d = object(PickleDict(ordered: false))
            try setItems(d, items, "DICT")
            try push(.dict(d))
        case .emptySet: try push(.set(object(PickleList())))
        case .frozenSet: try push(.set(object(PickleList(try popMark("FROZENSET")))))
        case .append:
            let value = try pop("APPEND")
            guard case .list(let l) = try top("APPEND") else { throw fail(.badStructure("APPEND to \(try top("APPEND").summary), not a list")) }
            try checkCount(l.items.count + 1)
            l.items.append(value)
        case .appends:
            let items = try popMark("APPENDS")
            guard case .list(let l) = try top("APPENDS") else { throw fail(.badStructure("APPENDS to \(try top("APPENDS").summary), not a list")) }
            try checkCount(l.items.count + items.count)
            l.items.append(contentsOf: items)
        case .addItems:
            let items = try popMark("ADDITEMS")
            guard case .set(let s) = try top("ADDITEMS") else { throw fail(.badStructure("ADDITEMS to \(try top("ADDITEMS").summary), not a set")) }
            try checkCount(s.items.count + items.count)
            s.items.append(contentsOf: items)
        case .setItem:
            let value = try pop("SETITEM"), key = try pop("SETITEM")
            guard case .dict(let d) = try top("SETITEM") else { throw fail(.badStructure("SETITEM on \(try top("SETITEM").summary), not a dict")) }
            try setItems(d, [key, value], "SETITEM")
        case .setItems:
            let items = try popMark("SETITEMS")
            guard case .dict(let d) = try top("SETITEMS") else { throw fail(.badStructure("SETITEMS on \(try top("SETITEMS").summary), not a dict")) }
            try setItems(d, items, "SETITEMS")
        case .build:
            let state = try pop("BUILD")
            switch try top("BUILD") {
            case .call(let c): c.state = state
            case .dict(let d): d.state = state
            case let other: throw fail(.badStructure("BUILD on \(other.summary), which has no state"))
            }
        case .put: try put(try textIndex("PUT"))
        case .binPut: try put(Int(try input.byte("BINPUT")))
        case .longBinPut: try put(Int(try input.little(UInt32.self, "LONG_BINPUT")))
        case .memoize: try put(memo.count)
        case .get: try get(try textIndex("GET"))
        case .binGet: try get(Int(try input.byte("BINGET")))
        case .longBinGet: try get(Int(try input.little(UInt32.self, "LONG_BINGET")))
        case .global:
            let module = try input.textLine("GLOBAL module"), name = try input.textLine("GLOBAL name")
            try push(try global(module: module, name: name))
        case .stackGlobal:
            let name = try pop("STACK_GLOBAL"), module = try pop("STACK_GLOBAL")
            guard case .string(let n) = name, case .string(let m) = module else { throw fail(.badStructure("STACK_GLOBAL of non-strings")) }
            try push(try global(module: m, name: n))
        case .inst:
            let module = try input.textLine("INST module"), name = try input.textLine("INST name")
            let g = try callee(try global(module: module, name: name), "INST")
            try push(try call(.instance, g, try popMark("INST")))
        case .obj:
            let items = try popMark("OBJ")
            guard let first = items.first else { throw fail(.badStructure("OBJ without a class")) }
            try push(try call(.object, try callee(first, "OBJ"), Array(items.dropFirst())))
        case .reduce:
            let args = try pop("REDUCE"), f = try pop("REDUCE")
            guard let items = args.tupleItems else { throw fail(.badStructure("REDUCE arguments \(args.summary) are not a tuple")) }
            let g = try callee(f, "REDUCE")
            let value = try reduce(g, items)
            if case .call(let c) = value, c.depth > input.limits.maxDepth { throw fail(.depthLimit(input.limits.maxDepth)) }
            try push(value)
        case .newObj:
            let args = try pop("NEWOBJ"), cls = try pop("NEWOBJ")
            guard let items = args.tupleItems else { throw fail(.badStructure("NEWOBJ arguments \(args.summary) are not a tuple")) }
            try push(try call(.newObject, try callee(cls, "NEWOBJ"), items))
        case .newObjEx:
            let kwargs = try pop("NEWOBJ_EX"), args = try pop("NEWOBJ_EX"), cls = try pop("NEWOBJ_EX")
            guard let items = args.tupleItems, case .dict = kwargs else { throw fail(.badStructure("NEWOBJ_EX arguments are not a tuple and a dict")) }
            try push(try call(.newObject, try callee(cls, "NEWOBJ_EX"), items, keywords: kwargs))
        case .binPersID:
            let pid = try pop("BINPERSID")
            guard pid.depth < input.limits.maxDepth else { throw fail(.depthLimit(input.limits.maxDepth)) }
            try push(.persistentID(pid))
        default:
            throw fail(.unknownOpcode(op.rawValue))
        }
    }

    private func setItems(_ d: PickleDict, _ items: [PickleValue], _ what: String) throws(PickleFailure) {
        guard items.count % 2 == 0 else { throw fail(.badStructure("\(what) with an odd number of items")) }
        try checkCount(d.entries.count + items.count / 2)
        for i in stride(from: 0, to: items.count, by: 2) { d.entries.append((items[i], items[i + 1])) }
    }
}
