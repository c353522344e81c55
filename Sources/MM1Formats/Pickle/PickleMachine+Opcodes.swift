/// The opcodes, one `case` each: what every byte of a pickle does to the stack, the memo and the tree.
extension PickleMachine {
    /// Reads opcodes up to STOP and returns what it pops.
    func execute() throws(PickleFailure) -> PickleValue {
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
