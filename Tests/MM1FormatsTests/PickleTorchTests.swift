import Foundation
import MM1Tensor
import MM1TestSupport
import Testing
@testable import MM1Formats

/// The torch interpretation and the legacy container, on files built byte by byte here.
@Suite struct PickleTorchTests {
    static let six = LegacyFile.floats([0, 1, 2, 3, 4, 5])

    /// Writes `bytes` to a temporary `.pt` file and opens it.
    static func open(_ bytes: [UInt8], name: String = "model.pt") throws -> (TorchCheckpointFile, TemporaryDirectory) {
        let dir = try TemporaryDirectory()
        FileManager.default.createFile(atPath: dir.file(name), contents: Data(bytes))
        return (try TorchCheckpointFile(path: dir.file(name)), dir)
    }

    static func refusal(_ bytes: [UInt8]) -> FormatError? {
        do {
            let (_, dir) = try open(bytes)
            dir.remove()
            return nil
        } catch let error as FormatError { return error } catch { return nil }
    }

    static func reason(_ bytes: [UInt8]) -> PickleViolation? {
        guard case .pickle(let v)? = refusal(bytes)?.reason else { return nil }
        return v
    }

    /// A legacy file holding `tensors` (name → size, stride, offset) over one 6-float storage.
    static func legacy(_ tensors: [(String, [Int], [Int], Int)], key: String = "0", numel: Int = 6, count: Int64 = 6, data: [UInt8] = six) -> [UInt8] {
        var p = PickleBuilder()
        p.dict { p in
            for (name, size, stride, offset) in tensors {
                p.string(name)
                p.tensor(key: key, numel: numel, offset: offset, size: size, stride: stride, legacy: true)
            }
        }
        return LegacyFile.make(main: p.finished(), storages: [(key, count, data)])
    }

    @Test("legacy format: contiguous tensors are zero-copy views of the mapping; tied tensors share the storage")
    func contiguous() throws {
        let (file, dir) = try Self.open(Self.legacy([("w", [2, 3], [3, 1], 0), ("tied", [2, 3], [3, 1], 0), ("row", [3], [1], 3)]))
        defer { dir.remove() }
        #expect(file.container == .legacy)
        #expect(file.tensors.map(\.name) == ["row", "tied", "w"])
        let w = try file.view(named: "w")
        #expect(try w.floats() == [0, 1, 2, 3, 4, 5])
        #expect(w.bytes.baseAddress! >= file.mapping.bytes.baseAddress! && w.bytes.baseAddress! < file.mapping.bytes.baseAddress! + file.mapping.size)
        #expect(try file.view(named: "tied").floats() == [0, 1, 2, 3, 4, 5])
        #expect(try file.view(named: "row").floats() == [3, 4, 5])
        #expect(file.globals.contains("torch._utils._rebuild_tensor_v2"))
    }

    @Test("strided and offset views are copied contiguous, row-major (a saved w.t(), a column slice)")
    func strided() throws {
        let (file, dir) = try Self.open(Self.legacy([("t", [3, 2], [1, 3], 0), ("col", [2], [3], 1), ("scalar", [], [], 5)]))
        defer { dir.remove() }
        #expect(try file.view(named: "t").floats() == [0, 3, 1, 4, 2, 5])
        #expect(try file.view(named: "col").floats() == [1, 4])
        #expect(try file.view(named: "scalar").floats() == [5])
    }

    @Test("views outside their storage are refused, with checked arithmetic")
    func bounds() {
        #expect(Self.reason(Self.legacy([("w", [2, 3], [3, 1], 1)])) == .viewOutOfBounds("[2, 3] with strides [3, 1] at offset 1 needs element 6 of a 24-byte storage of F32"))
        guard case .viewOutOfBounds? = Self.reason(Self.legacy([("w", [2, 2], [0x7FFF_FFFF, 1], 0)])) else { Issue.record("huge stride"); return }
        guard case .viewOutOfBounds? = Self.reason(Self.legacy([("w", [7], [1], 0)])) else { Issue.record("too long"); return }
        // An empty tensor far past its storage, and a broadcast (stride 0) view of 2^60 elements.
        guard case .viewOutOfBounds? = Self.reason(Self.legacy([("w", [0], [1], 0x7FFF_FFFF)])) else { Issue.record("empty past the end"); return }
        guard case .viewOutOfBounds? = Self.reason(Self.legacy([("w", [1 << 30, 1 << 30], [0, 0], 0)])) else { Issue.record("broadcast"); return }
    }

    @Test("a small broadcast (stride 0) view and an empty tensor read as torch makes them")
    func broadcast() throws {
        let (file, dir) = try Self.open(Self.legacy([("b", [2, 3], [0, 1], 1), ("e", [0, 4], [4, 1], 6)]))
        defer { dir.remove() }
        #expect(try file.view(named: "b").floats() == [1, 2, 3, 1, 2, 3])
        #expect(try file.view(named: "e").bytes.isEmpty)
    }

    @Test("storage records: size mismatch, unlisted storage, key that is a path")
    func records() {
        #expect(Self.reason(Self.legacy([("w", [2, 3], [3, 1], 0)], count: 5)) == .recordSizeMismatch(record: "0", expected: 24, actual: 20))
        #expect(Self.reason(Self.legacy([("w", [2, 3], [3, 1], 0)], key: "../../etc/passwd")) == .badStorageKey("../../etc/passwd"))
        #expect(Self.reason(Self.legacy([("w", [2], [1], 0)], numel: 2, count: 2, data: Array(Self.six.prefix(8))) + [0]) == .trailingBytes(1))
    }

    @Test("wrappers: state_dict nesting and module. prefixes are unwrapped and reported; other values become metadata")
    func wrappers() throws {
        var p = PickleBuilder()
        p.dict { p in
            p.string("epoch")
            p.int(3)
            p.string("state_dict")
            p.dict { p in
                p.string("module.a.weight")
                p.tensor(key: "0", numel: 6, size: [6], stride: [1], legacy: true)
                p.string("module.b")
                p.dict { p in
                    p.string("bias")
                    p.tensor(key: "0", numel: 6, offset: 2, size: [2], stride: [1], legacy: true)
                }
            }
            p.string("optimizer")
            p.dict { p in
                p.string("exp_avg")
                p.tensor(key: "0", numel: 6, size: [1], stride: [1], legacy: true)
            }
        }
        let (file, dir) = try Self.open(LegacyFile.make(main: p.finished(), storages: [("0", 6, Self.six)]))
        defer { dir.remove() }
        #expect(file.tensors.map(\.name) == ["a.weight", "b.bias"])
        #expect(file.metadata == ["epoch": "3"])
        #expect(file.warnings.contains("tensors are nested under 'state_dict': unwrapped"))
        #expect(file.warnings.contains("prefix 'module.' removed from every tensor name"))
        #expect(file.warnings.contains { $0.contains("optimizer.exp_avg") })
        #expect(try file.view(named: "b.bias").floats() == [2, 3])
    }

    @Test("a Hugging Face flat key 'model.x' is not a wrapper")
    func flatModelKey() throws {
        let (file, dir) = try Self.open(Self.legacy([("model.layers.0.w", [6], [1], 0)]))
        defer { dir.remove() }
        #expect(file.tensors.map(\.name) == ["model.layers.0.w"])
    }

    @Test("a forbidden global names its key path and byte, and says nothing was run")
    func forbiddenWithKeyPath() {
        var p = PickleBuilder()
        p.dict { p in
            p.string("w")
            p.tensor(key: "0", numel: 6, size: [6], stride: [1], legacy: true)
            p.string("evil")
            p.global("posix", "system")
            p.string("touch /tmp/marker")
            p.op(0x85)
            p.reduce()
        }
        let error = Self.refusal(LegacyFile.make(main: p.finished(), storages: [("0", 6, Self.six)]))
        #expect(error?.reason == .pickle(.forbiddenGlobal(module: "posix", name: "system")))
        #expect(error?.tensor == "evil")
        #expect(error?.byteOffset != nil)
        #expect(error?.description.contains("nothing was run") == true)
    }

    @Test("the legacy sys_info pickle is audited too")
    func sysInfoPayload() {
        var s = PickleBuilder()
        s.global("builtins", "exec")
        s.string("import os")
        s.op(0x85)
        s.reduce()
        let file = LegacyFile.make(main: PickleBuilder().finished(), storages: [], sysInfo: s.finished())
        #expect(Self.reason(file) == .forbiddenGlobal(module: "builtins", name: "exec"))
    }

    @Test("legacy headers, module persistent ids, tar and bare pickles")
    func containers() {
        let wrong = Self.legacy([("w", [6], [1], 0)])
        let afterMagic = TorchCheckpointFile.legacyMagic.count + 1
        var badProto = wrong
        badProto[afterMagic + 3] = 0xEA  // 1002
        #expect(Self.reason(badProto) == .badLegacyHeader("protocol version 1002, not 1001"))
        var m = PickleBuilder()
        m.dict { p in
            p.string("net")
            p.mark(); p.string("module"); p.global("torch", "Tensor"); p.string("x.py"); p.string("src"); p.tuple()
            p.op(0x51)
        }
        #expect(Self.reason(LegacyFile.make(main: m.finished(), storages: [])) == .legacyModule)
        var tar = [UInt8](repeating: 0, count: 1024)
        tar.replaceSubrange(257..<262, with: Array("ustar".utf8))
        #expect(Self.reason(tar) == .tarFormat)
        var bare = PickleBuilder()
        bare.dict { p in p.string("w"); p.tensor(key: "0", numel: 6, size: [6], stride: [1], legacy: false) }
        #expect(Self.reason(bare.finished()) == .missingRecord("data/0"))
    }

    @Test("rebuild arguments that are not a tensor are refused with the key")
    func badRebuild() {
        var p = PickleBuilder()
        p.dict { p in
            p.string("w")
            p.global("torch._utils", "_rebuild_tensor_v2")
            p.mark(); p.int(1); p.int(2); p.tuple()
            p.reduce()
        }
        let error = Self.refusal(LegacyFile.make(main: p.finished(), storages: []))
        guard case .pickle(.badRebuildArguments)? = error?.reason else { Issue.record("\(String(describing: error))"); return }
        #expect(error?.tensor == "w")
    }
}
