import Foundation
@testable import MM1Formats

/// Writes pickles opcode by opcode, for tests that need exact bytes (hostile ones included).
struct PickleBuilder {
    var bytes: [UInt8]

    init(protocol version: UInt8? = 2) { bytes = version.map { [0x80, $0] } ?? [] }

    mutating func op(_ codes: UInt8...) { bytes += codes }
    mutating func text(_ s: String) { bytes += Array(s.utf8) }
    mutating func string(_ s: String) {
        let u = Array(s.utf8)
        bytes += [0x58] + withUnsafeBytes(of: UInt32(u.count).littleEndian, Array.init) + u
    }
    mutating func int(_ i: Int32) { bytes += [0x4A] + withUnsafeBytes(of: i.littleEndian, Array.init) }
    mutating func global(_ module: String, _ name: String) { bytes += [0x63] + Array("\(module)\n\(name)\n".utf8) }
    mutating func mark() { op(0x28) }
    mutating func tuple() { op(0x74) }
    mutating func reduce() { op(0x52) }
    mutating func none() { op(0x4E) }
    mutating func stop() { op(0x2E) }
    mutating func ints(_ values: [Int]) {
        mark()
        for v in values { int(Int32(v)) }
        tuple()
    }

    /// `collections.OrderedDict()`.
    mutating func orderedDict() {
        global("collections", "OrderedDict")
        op(0x29)
        reduce()
    }

    /// `_rebuild_tensor_v2(storage('storage', torch.<type>, key, 'cpu', numel[, None]), offset, size, stride, False, OrderedDict())`.
    mutating func tensor(storageType: String = "FloatStorage", key: String, numel: Int, offset: Int = 0, size: [Int], stride: [Int], legacy: Bool) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark()
        string("storage")
        global("torch", storageType)
        string(key)
        string("cpu")
        int(Int32(numel))
        if legacy { none() }
        tuple()
        op(0x51)  // BINPERSID
        int(Int32(offset))
        ints(size)
        ints(stride)
        op(0x89)  // NEWFALSE
        orderedDict()
        tuple()
        reduce()
    }

    /// A dict of `entries` built by `body` between `}` MARK … SETITEMS.
    mutating func dict(_ body: (inout PickleBuilder) -> Void) {
        op(0x7D)
        mark()
        body(&self)
        op(0x75)
    }

    func finished() -> [UInt8] { bytes + [0x2E] }
}

/// A legacy-format file (`_use_new_zipfile_serialization=False`) around a main pickle.
enum LegacyFile {
    static func make(main: [UInt8], storages: [(key: String, count: Int64, data: [UInt8])], sysInfo: [UInt8]? = nil) -> [UInt8] {
        var out = TorchCheckpointFile.legacyMagic + [0x2E]
        out += [0x80, 0x02, 0x4D, 0xE9, 0x03, 0x2E]  // 1001
        out += sysInfo ?? [0x80, 0x02, 0x7D, 0x2E]
        out += main
        var keys = PickleBuilder()
        keys.op(0x5D)
        keys.mark()
        for s in storages { keys.string(s.key) }
        keys.op(0x65)
        out += keys.finished()
        for s in storages { out += withUnsafeBytes(of: s.count.littleEndian, Array.init) + s.data }
        return out
    }

    static func floats(_ values: [Float]) -> [UInt8] { values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }
}
