/// A value the pickle machine built: inert data. Globals stay names, calls stay nodes; nothing a
/// pickle names is ever looked up or called.
///
/// Lists, dicts, sets and call nodes are objects (``PickleList``, ``PickleDict``, ``PickleCall``), so a
/// memo entry fetched twice is the same object, as in Python: aliasing shares, it never copies.
package enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits, as its little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    /// A tuple; `depth` is its nesting (1 + the deepest tuple inside it).
    case tuple([PickleValue], depth: Int)
    case list(PickleList)
    case dict(PickleDict)
    /// A set or frozenset (items kept in file order).
    case set(PickleList)
    /// A name from GLOBAL, STACK_GLOBAL or INST, at the pickle byte `offset` of its opcode.
    case global(PickleGlobal)
    /// A REDUCE, NEWOBJ, NEWOBJ_EX, OBJ or INST that Python would have called.
    case call(PickleCall)
    /// BINPERSID's argument, as it would be handed to `persistent_load`.
    indirect case persistentID(PickleValue)

    /// Nesting of immutable values (tuples, persistent ids); objects count 1, their contents are walked
    /// with their own depth checks.
    var depth: Int {
        switch self {
        case .tuple(_, let d): d
        case .persistentID(let v): v.depth + 1
        case .call(let c): c.depth
        default: 1
        }
    }

    /// A short rendering for reports: scalars in full (strings abbreviated), containers by size.
    package var summary: String {
        switch self {
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .bigInt(let b): "<\(b.count * 8)-bit integer>"
        case .float(let f): String(f)
        case .string(let s): "\"" + FormatError.abbreviated(s) + "\""
        case .bytes(let b): "<\(b.count) bytes>"
        case .tuple(let items, _): items.count <= 8 ? "(" + items.map(\.summary).joined(separator: ", ") + (items.count == 1 ? ",)" : ")") : "<tuple of \(items.count)>"
        case .list(let l): l.items.count <= 8 ? "[" + l.items.map(\.summary).joined(separator: ", ") + "]" : "<list of \(l.items.count)>"
        case .dict(let d): "<dict of \(d.entries.count)>"
        case .set(let s): "<set of \(s.items.count)>"
        case .global(let g): g.qualifiedName
        case .call(let c): "<\(c.callee.summary)(…)>"
        case .persistentID: "<persistent id>"
        }
    }

    /// The text of a string value, or nil.
    package var string: String? { if case .string(let s) = self { s } else { nil } }
    /// The value of an integer that fits in `Int`, or nil (booleans are not integers here).
    package var int: Int? { if case .int(let i) = self { i } else { nil } }
    /// The items of a tuple, or nil.
    package var tupleItems: [PickleValue]? { if case .tuple(let items, _) = self { items } else { nil } }
}

/// A global's name: `(module, name)`, never resolved.
public struct PickleGlobal: Sendable, Hashable {
    public let module: String
    public let name: String
    /// Where its opcode is in the pickle.
    public let offset: Int
    public var qualifiedName: String { "\(module).\(name)" }
}

/// A mutable, shared list (also a set's items).
package final class PickleList {
    package internal(set) var items: [PickleValue]
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// A mutable, shared dict, entries in insertion order (duplicates keep the last value, as Python's).
package final class PickleDict {
    package internal(set) var entries: [(key: PickleValue, value: PickleValue)] = []
    /// The state a BUILD gave it (an OrderedDict's `{'_metadata': …}`), or nil.
    package internal(set) var state: PickleValue?
    /// Made by `collections.OrderedDict()`.
    package let ordered: Bool
    init(ordered: Bool) { self.ordered = ordered }
}

/// What Python would have called, as data: the callee (always a ``PickleGlobal``), its arguments,
/// and the state a BUILD would have set on the result.
package final class PickleCall {
    package enum Kind: String, Sendable { case reduce, newObject, object, instance }
    package let kind: Kind
    package let callee: PickleValue
    package let arguments: [PickleValue]
    /// NEWOBJ_EX's keyword arguments.
    package let keywordArguments: PickleValue?
    package internal(set) var state: PickleValue?
    /// The pickle byte of the opcode that made it.
    package let offset: Int
    /// 1 + the deepest immutable value among the arguments.
    let depth: Int
    init(kind: Kind, callee: PickleValue, arguments: [PickleValue], keywordArguments: PickleValue? = nil, offset: Int) {
        depth = 1 + max(arguments.map(\.depth).max() ?? 0, keywordArguments?.depth ?? 0)
        self.kind = kind
        self.callee = callee
        self.arguments = arguments
        self.keywordArguments = keywordArguments
        self.offset = offset
    }
    /// The callee's name.
    package var global: PickleGlobal? { if case .global(let g) = callee { g } else { nil } }
}

/// The values of one pickle and everything they reference, released without recursion: a hostile
/// pickle can chain millions of lists, and releasing such a chain naively would recurse once per link.
package final class PickleTree {
    /// The value STOP returned.
    package let root: PickleValue
    /// Every global the pickle names, in order of first appearance.
    package let globals: [PickleGlobal]
    /// How many values the machine created for it.
    package let valueCount: Int
    private var objects: [AnyObject]

    init(root: PickleValue, globals: [PickleGlobal], valueCount: Int, objects: [AnyObject]) {
        self.root = root
        self.globals = globals
        self.valueCount = valueCount
        self.objects = objects
    }

    deinit { Self.release(objects) }

    /// Empties every object first (their contents move to one flat array), so that what is left
    /// to release is at most one level deep per value: tuples are immutable and their depth is capped.
    static func release(_ objects: [AnyObject]) {
        var held: [PickleValue] = []
        for object in objects {
            switch object {
            case let l as PickleList:
                held.append(contentsOf: l.items)
                l.items = []
            case let d as PickleDict:
                for e in d.entries { held.append(e.key); held.append(e.value) }
                d.entries = []
                if let s = d.state { held.append(s) }
                d.state = nil
            case let c as PickleCall:
                if let s = c.state { held.append(s) }
                c.state = nil
            default: break
            }
        }
        held.removeAll()
    }
}
