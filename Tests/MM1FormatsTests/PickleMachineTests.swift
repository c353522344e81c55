import Foundation
import Testing
@testable import MM1Formats

@Suite struct PickleMachineTests {
    static func run(_ bytes: [UInt8], limits: PickleLimits = .standard, trailing: Bool = false) throws(PickleFailure) -> (PickleTree, PickleGlobal?) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(PickleFailure) in
                let r = try PickleMachine.run(raw, limits: limits, trailingBytesAllowed: trailing, isAllowed: TorchGlobals.isAllowed)
                return (r.tree, r.forbidden)
            }
        }
        return try result.get()
    }

    static func violation(_ bytes: [UInt8], limits: PickleLimits = .standard) -> PickleFailure? {
        do {
            _ = try run(bytes, limits: limits)
            return nil
        } catch { return error }
    }

    static func entries(_ v: PickleValue) -> [String: String] {
        guard case .dict(let d) = v else { return [:] }
        return Dictionary(d.entries.map { (TorchStateDict.keyText($0.key), $0.value.summary) }, uniquingKeysWith: { _, b in b })
    }

    @Test("protocol 2: BINUNICODE keys, BININT1, BINFLOAT, LONG1, memo, SETITEMS")
    func protocol2() throws {
        // pickle.dumps({'a': 1, 'b': 1.5, 'c': 2**70, 'd': -2}, protocol=2)
        var p = PickleBuilder()
        p.op(0x7D, 0x71, 0x00)
        p.mark()
        p.string("a"); p.op(0x4B, 0x01)
        p.string("b"); p.op(0x47, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0)
        p.string("c"); p.op(0x8A, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x40)
        p.string("d"); p.op(0x8A, 0x01, 0xFE)
        p.op(0x75)
        let (tree, forbidden) = try Self.run(p.finished())
        #expect(forbidden == nil)
        #expect(Self.entries(tree.root) == ["a": "1", "b": "1.5", "c": "<72-bit integer>", "d": "-2"])
    }

    @Test("protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, TUPLE2, EMPTY_SET, ADDITEMS, FROZENSET")
    func protocol4() throws {
        var body: [UInt8] = [0x7D, 0x94, 0x28]  // {} MEMOIZE MARK
        body += [0x8C, 1] + Array("k".utf8) + [0x94]
        body += [0x8C, 11] + Array("collections".utf8) + [0x94, 0x8C, 11] + Array("OrderedDict".utf8) + [0x94, 0x93, 0x94, 0x29, 0x52, 0x94]
        body += [0x8C, 1] + Array("t".utf8) + [0x88, 0x89, 0x86]  // ('t': (True, False))
        body += [0x8C, 1] + Array("s".utf8) + [0x8F, 0x28, 0x4B, 1, 0x4B, 2, 0x90]
        body += [0x8C, 1] + Array("f".utf8) + [0x28, 0x4B, 3, 0x91]
        body += [0x8C, 1] + Array("m".utf8) + [0x68, 0x01]  // BINGET 1 = "k"
        body += [0x75, 0x2E]
        let bytes: [UInt8] = [0x80, 0x04, 0x95] + withUnsafeBytes(of: UInt64(body.count).littleEndian, Array.init) + body
        let (tree, forbidden) = try Self.run(bytes)
        #expect(forbidden == nil)
        #expect(Self.entries(tree.root) == ["k": "<dict of 0>", "t": "(True, False)", "s": "<set of 2>", "f": "<set of 1>", "m": "\"k\""])
        #expect(tree.globals.map(\.qualifiedName) == ["collections.OrderedDict"])
    }

    @Test("protocol 0: text opcodes (DICT, STRING, UNICODE, INT bools, LONG, FLOAT, PUT/GET, LIST, APPEND)")
    func protocol0() throws {
        let text = "(dp0\nS'a\\'b'\np1\nI01\nsVx\\u00e9\np2\nL123456789012345678901234567890L\nsS'f'\nF2.5\nsS'l'\n(lp3\nI7\naI-3\nasS'g'\ng1\ns."
        let (tree, _) = try Self.run(Array(text.utf8))
        #expect(Self.entries(tree.root) == ["a'b": "True", "xé": "<112-bit integer>", "f": "2.5", "l": "[7, -3]", "g": "\"a'b\""])
    }

    @Test("a global outside the allowlist is reported with its byte even when the rest is well formed; nothing is called")
    func forbiddenGlobal() throws {
        var p = PickleBuilder()
        p.global("posix", "system")
        p.string("touch /tmp/pwned")
        p.op(0x85)
        p.reduce()
        let (_, forbidden) = try Self.run(p.finished())
        #expect(forbidden?.qualifiedName == "posix.system")
        #expect(forbidden?.offset == 2)
        // Followed by a broken opcode: the forbidden global is still what is reported.
        var q = PickleBuilder()
        q.global("builtins", "eval")
        q.op(0xFF)
        #expect(Self.violation(q.finished()) == PickleFailure(violation: .forbiddenGlobal(module: "builtins", name: "eval"), offset: 2))
        // STACK_GLOBAL and INST are checked the same way.
        var s = PickleBuilder(protocol: 4)
        s.op(0x8C, 10); s.text("subprocess"); s.op(0x8C, 5); s.text("Popen"); s.op(0x93)
        #expect(try Self.run(s.finished()).1?.qualifiedName == "subprocess.Popen")
        #expect(try Self.run(Array("(S'ls'\niposix\nsystem\n.".utf8)).1?.qualifiedName == "posix.system")
    }

    @Test("refused opcodes: EXT1/2/4, PERSID, NEXT_BUFFER; unknown bytes")
    func refusedOpcodes() {
        for (code, name) in [(UInt8(0x82), "EXT1"), (0x83, "EXT2"), (0x84, "EXT4"), (0x50, "PERSID"), (0x97, "NEXT_BUFFER")] {
            #expect(Self.violation([0x80, 0x02, code, 0, 0, 0, 0, 0x2E])?.violation == .forbiddenOpcode(name))
        }
        #expect(Self.violation([0x80, 0x02, 0xFF])?.violation == .unknownOpcode(0xFF))
        #expect(Self.violation([0x80, 0x02, 0x4E])?.violation == .truncated("an opcode (no STOP)"))
    }

    @Test("trailing bytes, truncated strings, lengths over the cap")
    func lengths() {
        #expect(Self.violation([0x80, 0x02, 0x4E, 0x2E, 0x00])?.violation == .trailingBytes(1))
        #expect(Self.violation([0x80, 0x02, 0x58, 10, 0, 0, 0, 0x61])?.violation == .truncated("BINUNICODE"))
        #expect(Self.violation([0x80, 0x02, 0x58, 0xF0, 0xFF, 0xFF, 0xFF, 0x61])?.violation == .lengthLimit(length: 0xFFFF_FFF0, limit: 1 << 28))
        #expect(Self.violation([0x80, 0x04, 0x8E] + [UInt8](repeating: 0xFF, count: 8))?.violation == .lengthLimit(length: .max, limit: 1 << 28))
        #expect(Self.violation([0x80, 0x04, 0x95, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x4E, 0x2E])?.violation == .truncated("a frame of 255 bytes"))
    }

    @Test("structure: SETITEM on a list, APPEND on a dict, REDUCE of a non-global, BUILD on a string, odd SETITEMS, stack underflow")
    func structure() {
        let cases: [[UInt8]] = [
            [0x5D, 0x4B, 1, 0x4B, 2, 0x73],          // SETITEM on a list (CVE-2026-24747)
            [0x7D, 0x4B, 1, 0x61],                   // APPEND on a dict
            [0x4B, 1, 0x29, 0x52],                   // REDUCE of an int
            [0x58, 1, 0, 0, 0, 0x61, 0x7D, 0x62],    // BUILD on a string
            [0x7D, 0x28, 0x4B, 1, 0x75],             // SETITEMS with one item
            [0x30],                                  // POP on an empty stack
            [0x74],                                  // TUPLE without MARK
        ]
        for c in cases {
            guard case .badStructure = Self.violation([0x80, 0x02] + c + [0x2E])?.violation else {
                Issue.record("\(c): \(String(describing: Self.violation([0x80, 0x02] + c + [0x2E])))")
                continue
            }
        }
    }

    @Test("memo: missing entries and indexes or counts over the cap")
    func memo() {
        #expect(Self.violation([0x80, 0x02, 0x68, 5, 0x2E])?.violation == .memoMissing(5))
        var small = PickleLimits()
        small.maxMemoIndex = 100
        #expect(Self.violation([0x80, 0x02, 0x4E, 0x72, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E], limits: small)?.violation == .memoLimit(index: 0xFFFF_FFFF, limit: 100))
        small.maxMemoEntries = 2
        #expect(Self.violation([0x80, 0x02, 0x4E, 0x71, 0, 0x71, 1, 0x71, 2, 0x2E], limits: small)?.violation == .memoLimit(index: 3, limit: 2))
    }

    @Test("caps on containers, nesting, MARKs and values")
    func caps() {
        var small = PickleLimits()
        small.maxContainerItems = 4
        #expect(Self.violation([0x80, 0x02, 0x5D, 0x28] + [UInt8](repeating: 0x4E, count: 3) + [0x65, 0x28, 0x4E, 0x4E, 0x65, 0x2E], limits: small)?.violation
                    == .containerLimit(count: 5, limit: 4))
        #expect(Self.violation([0x80, 0x02] + [UInt8](repeating: 0x28, count: 201))?.violation == .depthLimit(200))
        #expect(Self.violation([0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 200) + [0x2E])?.violation == .depthLimit(200))
        small = PickleLimits()
        small.maxNodes = 10
        #expect(Self.violation([0x80, 0x02] + [UInt8](repeating: 0x4E, count: 11) + [0x2E], limits: small)?.violation == .nodeLimit(10))
    }

    @Test("memo aliasing shares instead of copying: 2^40 paths through 40 lists cost 40 lists, and the walk's budget stops")
    func aliasing() throws {
        // L0 = []; Li = [L(i-1), L(i-1)]; the dict {'x': L40}.
        var bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0]
        for i in 1...40 { bytes += [0x5D, 0x28, 0x68, UInt8(i - 1), 0x68, UInt8(i - 1), 0x65, 0x71, UInt8(i), 0x30] }
        bytes += [0x7D, 0x58, 1, 0, 0, 0, 0x78, 0x68, 40, 0x73, 0x2E]
        let (tree, _) = try Self.run(bytes)
        let start = Date()
        #expect(throws: TorchReadFailure.self) { try TorchStateDict(tree, legacy: false) }
        #expect(Date().timeIntervalSince(start) < 30)
    }

    @Test("a chain of 300,000 nested lists is built and released without recursion")
    func longChain() throws {
        var bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0, 0x71, 1, 0x30]
        for _ in 0..<300_000 { bytes += [0x68, 1, 0x5D, 0x71, 1, 0x61, 0x30] }
        bytes += [0x7D, 0x58, 1, 0, 0, 0, 0x78, 0x68, 0, 0x73, 0x2E]
        let (tree, _) = try Self.run(bytes)
        let error = #expect(throws: TorchReadFailure.self) { try TorchStateDict(tree, legacy: false) }
        #expect(error?.violation == .depthLimit(200))
    }

    @Test("a list that contains itself is refused by the walk, not followed forever")
    func cycle() throws {
        // l = []; l.append(l); {'x': l}
        let bytes: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x30, 0x7D, 0x58, 1, 0, 0, 0, 0x78, 0x68, 0, 0x73, 0x2E]
        let (tree, _) = try Self.run(bytes)
        let error = #expect(throws: TorchReadFailure.self) { try TorchStateDict(tree, legacy: false) }
        #expect(error?.violation == .badStructure("a container contains itself"))
    }

    @Test("_codecs.encode(str, 'latin1') is read as bytes, OrderedDict() as a dict, nothing is called")
    func dataConstructors() throws {
        var p = PickleBuilder()
        p.dict { p in
            p.string("b")
            p.global("_codecs", "encode")
            p.string("\u{00ff}a")
            p.string("latin1")
            p.op(0x86)
            p.reduce()
            p.string("o")
            p.orderedDict()
        }
        let (tree, forbidden) = try Self.run(p.finished())
        #expect(forbidden == nil)
        #expect(Self.entries(tree.root) == ["b": "<2 bytes>", "o": "<dict of 0>"])
    }
}
