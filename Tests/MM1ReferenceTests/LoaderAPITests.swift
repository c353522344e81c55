import Foundation
import MM1Conversion
import MM1Formats
import MM1Graph
import MM1PackageFormat
import MM1Quantization
import MM1Reference
import MM1Tensor
import MM1TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The library as a loader in another runtime uses it (issue 22): parameters with their values,
/// the quantized case kept apart from plain views, stored tensors with their place in the file,
/// reference stages in pipeline order, and a printable config.
@Suite struct LoaderAPITests {
    /// The sample imported, and its int4 copy.
    static func packages(_ dir: TemporaryDirectory) throws -> (plain: MM1Package, int4: MM1Package) {
        let plain = try Fixtures.importSample(into: dir)
        var importer = Importer()
        importer.quantization = QuantizationPolicy(bits: .int4, groupSize: 32)
        try importer.run(try Checkpoint.open(plain.path), config: plain.manifest.config, to: dir.file("int4.mm1"))
        return (plain, try MM1Package.open(dir.file("int4.mm1")))
    }

    @Test("package.parameters: every parameter with its stored tensor, in spec order; the model's visitor and map walk the same")
    func parametersInSpecOrder() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        let parameters = package.parameters
        #expect(parameters.count == 138)
        #expect(parameters.map(\.spec) == package.model.specs)
        #expect(parameters.allSatisfy { $0.tensor.name == $0.spec.name && $0.tensor.shape == $0.spec.shape.dimensions })
        #expect(try parameters.allSatisfy { try package.parameter(named: $0.spec.name).view?.bytes.baseAddress == $0.tensor.view?.bytes.baseAddress })

        var visited: [Component: Int] = [:]
        package.model.forEachParameter { spec, _ in visited[spec.component, default: 0] += 1 }
        for component in Component.allCases {
            var names: [String] = []
            package.model.forEachParameter(in: component) { spec, stored in names.append(stored.name) }
            #expect(names == package.model.specs.filter { $0.component == component }.map(\.name))
            #expect(names.count == visited[component])
        }
        // A runtime's own leaves: the same tree, each leaf made once, in spec order.
        var calls = 0
        let sizes = try package.model.map { spec, stored in
            calls += 1
            return (spec.name, stored.byteCount)
        }
        #expect(calls == 138)
        #expect(sizes.language.layers[3].attention.q.weight.0 == "language.layers.3.attention.q.weight")
        #expect(sizes.parameters.map(\.value.0) == package.model.specs.map(\.name))
        struct Refused: Error {}
        #expect(throws: Refused.self) { try package.model.forEachParameter { (_, _) throws(Refused) in throw Refused() } }
    }

    @Test("a quantized name through view(named:) is a typed error, not its codes; the raw storage lists codes, scales and their parameter")
    func quantizedIsNotAPlainView() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (_, package) = try Self.packages(dir)
        let name = "language.layers.0.attention.q.weight"
        let q = try package.parameter(named: name)
        let format = try #require(q.format)
        #expect(q.dtype == nil && format.description == "int4 symmetric g32")
        #expect(throws: PackageLookupError(package: package.path, name: name, reason: .quantized(format))) { try package.view(named: name) }
        #expect(throws: PackageLookupError(package: package.path, name: "\(name).scales", reason: .quantizationPart(of: name, role: .scales))) {
            try package.parameter(named: "\(name).scales")
        }
        #expect(throws: PackageLookupError(package: package.path, name: "nothing", reason: .noSuchTensor)) { try package.storedPart(named: "nothing") }
        #expect("\(PackageLookupError(package: "p", name: name, reason: .quantized(format)))".contains("is quantized (int4 symmetric g32)"))
        // A plain parameter still comes as its view.
        #expect(try package.view(named: "language.norm.weight").dtype == .bf16)

        // Raw storage: every tensor of the shards, more than the parameters, each with its role.
        #expect(package.parameters.count == 138)
        #expect(package.storage.count == package.manifest.tensors.count && package.storage.count > 138)
        #expect(package.storage.map(\.name) == package.manifest.tensors.keys.sorted(by: TensorInfo.nameOrder))
        let quantizedCount = package.parameters.filter { $0.tensor.quantized != nil }.count
        #expect(package.storage.filter { $0.role == .scales }.count == quantizedCount)
        #expect(package.storage.filter { $0.role == .codes }.count == quantizedCount)
        let scales = try package.storedPart(named: "\(name).scales")
        #expect(scales.role == .scales && scales.parameter == name && scales.dtype == .f16)
        let codes = try package.storedPart(named: name)
        #expect(codes.role == .codes && codes.dtype == .u8 && codes.shape.dimensions == q.quantized!.layout.codes)
        #expect(q.parts.map(\.name) == [name, "\(name).scales"])
    }

    @Test("StoredTensor: dtype or format, storage description and byteCount without switching on its cases")
    func storedTensorDescribesItself() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (plain, int4) = try Self.packages(dir)
        let name = "language.layers.0.attention.q.weight"
        let p = try plain.parameter(named: name), q = try int4.parameter(named: name)
        #expect(p.dtype == .bf16 && p.format == nil && p.storageDescription == "BF16")
        #expect(p.byteCount == p.view!.byteCount && p.byteCount == p.view!.info.byteCount && p.byteCount == 64 * 64 * 2)
        #expect(q.storageDescription == "int4 symmetric g32 (U8 codes, F16 scales)")
        #expect(q.byteCount == q.quantized!.byteCount && q.byteCount == 64 * 32 + 64 * 2 * 2)
        #expect("\(q)" == "\(name) int4 symmetric g32 (U8 codes, F16 scales) [64, 64]")
        for (spec, tensor) in int4.parameters {
            #expect(tensor.byteCount == tensor.parts.reduce(0) { $0 + int4.manifest.tensors[$1.name]!.bytes }, "\(spec.name)")
        }
    }

    @Test("every stored tensor has a file location: the shard's path and the manifest's offset, whose bytes pread reads back")
    func locations() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (_, package) = try Self.packages(dir)
        for part in package.storage {
            let entry = package.manifest.tensors[part.name]!
            let at = try #require(part.location, "\(part.name)")
            #expect(at.path == "\(package.path)/\(entry.shard)" && at.offset == entry.offset && at.byteCount == entry.bytes, "\(part.name)")
        }
        for name in ["language.layers.0.attention.q.weight.scales", "vision.patch_embed.weight"] {
            let part = try package.storedPart(named: name)
            let at = part.location!
            let fd = open(at.path, O_RDONLY)
            defer { close(fd) }
            var read = [UInt8](repeating: 0, count: at.byteCount)
            #expect(read.withUnsafeMutableBytes { pread(fd, $0.baseAddress, at.byteCount, off_t(at.offset)) } == at.byteCount)
            #expect(read == Array(part.view.bytes), "\(name)")
        }
        #expect(TensorView(copying: [1, 2], name: "x", dtype: .u8, shape: [2]).location == nil)
    }

    @Test("reference stages in pipeline order, each by name")
    func referenceStagesInPipelineOrder() throws {
        let reference = try ReferenceActivations.read("\(Fixtures.samplePath)/reference.safetensors")
        #expect(reference.expected.order == [
            "vision.embeddings", "vision.layer.0", "vision.layer.1", "vision_features",
            "connector.stage.0", "connector.pool", "connector.stage.1", "image_embeds",
            "language.embeddings", "language.layer.0", "language.layer.1", "language.layer.2", "language.layer.3", "logits",
        ])
        #expect(reference.expected["logits"]?.shape == [1, reference.inputs.inputIDs[0].count, 256])
        #expect(reference.expected.map(\.stage) == reference.expected.order)
        let stages = ForwardStages(pipelineOrderOf: [
            (stage: "other", tensor: StageTensor(shape: [1], values: [0])),
            (stage: "language.layer.10", tensor: StageTensor(shape: [1], values: [0])),
            (stage: "language.layer.9", tensor: StageTensor(shape: [1], values: [0])),
            (stage: "language.layer.09", tensor: StageTensor(shape: [1], values: [0])),
            (stage: "vision.embeddings", tensor: StageTensor(shape: [1], values: [0])),
        ])
        #expect(stages.order == ["vision.embeddings", "language.layer.9", "language.layer.10", "other", "language.layer.09"])
    }

    @Test("a config prints as one line: encoder, resolution, connector and tokens, decoder, experts")
    func configSummary() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        #expect("\(package.manifest.config)" == "CLIP encoder 2 layers × 32, 84 px / 14 → C-Abstractor, 16 image tokens → decoder 4 layers × 64, 4 heads (2 KV), vocab 256, dense")
        var moe = package.manifest.config
        moe.language.moe = .init(experts: 8, topK: 2, expertIntermediateSize: 32, sparseLayers: [1, 3])
        #expect(moe.description.hasSuffix("vocab 256, 8 experts top-2 in 2 of 4 layers"))
    }
}
