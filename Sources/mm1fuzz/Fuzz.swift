// libFuzzer entry point for every parser (built only with MM1_FUZZ=1, by Tests/Fuzz/run.sh:
// `swift build --product mm1fuzz --sanitize=fuzzer --sanitize=address`). MM1FUZZ_TARGET picks the parser.
// Every input must end in a value or a typed error: a crash, an assertion, a hang or an out-of-memory
// is a finding.
import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Tensor

/// The parsers under test, by name.
enum FuzzTarget: String, CaseIterable {
    case safetensors        // the header of a safetensors file, parsed from memory
    case safetensorsIndex = "safetensors-index"  // model.safetensors.index.json (its shards absent)
    case gguf               // a GGUF file: header, metadata, tensor infos, then every tensor read (dequantized)
    case dequantize         // first byte picks a ggml type; the rest, cut to whole blocks, is dequantized
    case zstd               // a zstd-compressed checkpoint: decompressed with caps, then read (oracle: fuzzZstd)
    case config             // an MM1 config JSON, validated, then its graph built
    case mapping            // a mapping file (naming dialect), then a plan over a fixed tensor list
    case manifest           // an MM1 package manifest (mm1.json; its shards absent)
    case hdf5               // an HDF5 file converted in this process: libhdf5 plus our walk, checks and copy
    case sentencepiece      // a SentencePiece tokenizer.model (protocol buffer), parsed from memory
    case pickle             // a pickle run by the non-executing machine with torch's allowlist, then interpreted, from memory
    case torchZip = "torch-zip"  // a PyTorch checkpoint file (zip, legacy or bare pickle), opened, every small tensor viewed
}

let target: FuzzTarget = {
    guard let name = ProcessInfo.processInfo.environment["MM1FUZZ_TARGET"], let t = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write("set MM1FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".data(using: .utf8)!)
        exit(2)
    }
    return t
}()

/// A private folder in memory-backed storage for targets that read files.
let folder: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = "\(base)/mm1fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

func write(_ bytes: UnsafeRawBufferPointer, to name: String) -> String {
    let path = "\(folder)/\(name)"
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

/// Tensors a fuzzed mapping is planned over: the tiny dense graph under Hugging Face names.
let mappingTensors: [TensorInfo] = {
    let config = Preset.preset(.tinyDense).config
    guard let graph = try? MM1Model(graphOf: config) else { return [] }
    let namer = DialectNamer(dialects: SafetensorsExport.defaultDialects)
    var offset = 0
    return graph.specs.map { spec in
        let name = namer.sourceName(for: spec.name)?.name ?? spec.name
        defer { offset += spec.shape.elementCount * 2 }
        return TensorInfo(name: name, dtype: .f16, shape: spec.shape, byteRange: offset..<(offset + spec.shape.elementCount * 2))
    }
}()

let dequantizable: [GGMLType] = (0..<40).map { GGMLType(id: UInt32($0)) }.filter { $0.isDequantizable && $0.plainDType == nil }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    switch target {
    case .safetensors:
        _ = try? SafetensorsHeader(parsing: bytes, name: "fuzz.safetensors")
    case .safetensorsIndex:
        _ = try? SafetensorsCheckpoint(path: write(bytes, to: "model.safetensors.index.json"))
    case .gguf:
        guard let file = try? GGUFFile(path: write(bytes, to: "fuzz.gguf")) else { return 0 }
        for t in file.ggufTensors where t.elementCount <= 1 << 20 { _ = try? file.view(named: t.name) }
    case .dequantize:
        guard size > 1, !dequantizable.isEmpty else { return 0 }
        let type = dequantizable[Int(bytes[0]) % dequantizable.count]
        let blocks = (size - 1) / type.blockBytes
        guard blocks > 0 else { return 0 }
        var out = [Float](repeating: 0, count: blocks * type.blockSize)
        out.withUnsafeMutableBufferPointer { o in
            GGUFDequantizer.dequantize(type, UnsafeRawBufferPointer(rebasing: bytes[1..<(1 + blocks * type.blockBytes)]), into: o)
        }
    case .zstd:
        fuzzZstd(write(bytes, to: "fuzz.safetensors.zst"))
    case .config:
        guard let config = try? MM1Config.decode(from: Data(bytes)), (try? config.validate()) != nil else { return 0 }
        _ = try? MM1Model(graphOf: config)
    case .mapping:
        guard let dialect = try? JSONDecoder().decode(Dialect.self, from: Data(bytes)) else { return 0 }
        _ = try? MappingPlan(tensors: mappingTensors, config: Preset.preset(.tinyDense).config, dialects: [dialect] + BuiltinDialects.all)
    case .manifest:
        try? FileManager.default.createDirectory(atPath: "\(folder)/pkg.mm1", withIntermediateDirectories: true)
        _ = write(bytes, to: "pkg.mm1/mm1.json")
        _ = try? MM1Package.open("\(folder)/pkg.mm1")
    case .sentencepiece:
        _ = try? SentencePieceModel(bytes)
    case .pickle:
        guard let run = try? PickleMachine.run(bytes, isAllowed: TorchGlobals.isAllowed) else { return 0 }
        _ = try? TorchStateDict(run.tree, legacy: size % 2 == 1)
    case .torchZip:
        guard let file = try? TorchCheckpointFile(path: write(bytes, to: "fuzz.pt")) else { return 0 }
        for t in file.tensors where t.shape.elementCount <= 1 << 20 { _ = try? file.view(named: t.name) }
    case .hdf5:
        // The CLI runs this in its `__reader-worker hdf5` child (libhdf5 is not hardened); here it runs in process so
        // that a fault in our code around libhdf5 is seen with its stack.
        let output = "\(folder)/converted.safetensors"
        _ = try? HDF5Input.convertInProcess(write(bytes, to: "fuzz.h5"), to: output)
        unlink(output)
    }
    return 0
}

/// The zstd target's oracle (issue 20): a stream refused for the header inside wrote nothing, and a stream
/// that decompressed but whose inner file the reader then refuses wrote at most
/// ``ZstdInput/maxUncheckedOutput`` bytes (its header was never complete enough to judge): an invalid
/// inner header must fail after a bounded amount of output, never after the whole stream.
func fuzzZstd(_ path: String) {
    var written: UInt64 = 0
    let inner: String
    do {
        inner = try ZstdInput.decompress(path, written: &written)
    } catch let error as FormatError {
        switch error.reason {
        case .zstd(.notACheckpoint), .zstd(.innerHeader), .zstd(.contentTooLarge(declared: .some, _, _)):
            precondition(written == 0, "refused for its inner header after writing \(written) bytes: \(error)")
        default: break
        }
        return
    } catch {
        return
    }
    defer { TemporaryPaths.discard(fileIn: inner) }
    do {
        let magic = (try? MappedFile(path: inner)).map { GGUFFile.hasMagic($0.bytes) } ?? false
        let source: any TensorSource = magic ? try GGUFFile(path: inner) : try SafetensorsFile(path: inner)
        _ = source.tensors.count
    } catch {
        precondition(written <= ZstdInput.maxUncheckedOutput, "inner file refused after \(written) bytes of output: \(error)")
    }
}
