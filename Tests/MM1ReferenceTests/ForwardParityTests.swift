import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Reference
import MM1Tensor
import MM1TestSupport
import Testing

/// The reference forward pass against activations PyTorch computed with the real classes
/// (transformers, timm, Honeybee's C-Abstractor, open_clip, apple/ml-aim): the sample model through a
/// real import, and every case of Tests/Fixtures/forward (made by generate_forward.py).
@Suite struct ForwardParityTests {
    static let samplePath = Fixtures.samplePath

    static func sampleReference() throws -> ReferenceActivations {
        try ReferenceActivations.read("\(samplePath)/reference.safetensors")
    }

    @Test("the sample model, imported from its Honeybee BF16 shards, matches PyTorch at every stage within 1e-4")
    func sampleMatchesPyTorch() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        let report = try Verifier.verify(MM1Forward(model: package.model, weights: ViewWeights()), reference: try Self.sampleReference())
        #expect(report.passed, "first failure: \(report.firstFailure ?? "-")")
        let stages = report.stages.map(\.stage)
        #expect(stages.first == "vision.embeddings" && stages.last == "logits")
        #expect(stages.count == 14 && report.stages.allSatisfy { $0.passed == true })
        let logits = try #require(report.stages.last?.logits)
        #expect(logits.top1Agreement == 1 && logits.klMax < 1e-9)
    }

    /// `config` applied to the canonical tensors of `file`.
    static func model(_ file: SafetensorsFile, _ config: MM1Config, swapping swap: (String, String)? = nil) throws -> MM1Model<TensorView> {
        try MM1Model(config: config) { spec in
            var name = spec.name
            if let swap { name = name == swap.0 ? swap.1 : (name == swap.1 ? swap.0 : name) }
            return try file.view(named: name)
        }
    }

    @Test("a wrong layer-norm eps in the config fails verify at the first stage that uses it")
    func wrongEpsIsCaught() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        var config = package.manifest.config
        config.vision.normEps = 1e-2
        let model = try MM1Model(config: config) { try package.view(named: $0.name) }
        let report = try Verifier.verify(MM1Forward(model: model, weights: ViewWeights()), reference: try Self.sampleReference())
        #expect(report.firstFailure == "vision.embeddings")
        #expect(!report.passed)
    }

    @Test("swapped q and k projections fail verify at the layer that holds them, and not before")
    func swappedQKIsCaught() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        let model = try MM1Model(config: package.manifest.config) { spec in
            let swap = ["vision.layers.1.attention.q.weight": "vision.layers.1.attention.k.weight",
                        "vision.layers.1.attention.k.weight": "vision.layers.1.attention.q.weight"]
            return try package.view(named: swap[spec.name] ?? spec.name)
        }
        let report = try Verifier.verify(MM1Forward(model: model, weights: ViewWeights()), reference: try Self.sampleReference())
        #expect(report.firstFailure == "vision.layer.1")
        #expect(report.stages.first { $0.stage == "vision.layer.0" }?.passed == true)
    }

    @Test("a model against itself drifts by exactly nothing, end to end and layerwise")
    func selfAgainstSelf() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        let forward = MM1Forward(model: package.model, weights: ViewWeights())
        let inputs = SyntheticInputs.make(package.manifest.config, seed: 7, batch: 2)
        for layerwise in [false, true] {
            let report = try Verifier.against(forward, forward, inputs: inputs, layerwise: layerwise, tolerance: 0)
            #expect(report.passed)
            #expect(report.stages.allSatisfy { $0.metrics?.maxAbsError == 0 && $0.metrics?.cosine == 1 })
            #expect(report.stages.last?.logits?.klMax == 0 && report.stages.last?.logits?.top1Agreement == 1)
            #expect(report.stages.first { $0.stage == "logits" }?.shape == [2, 32, 256])
        }
    }

    @Test("layerwise feeding isolates a block: a perturbed layer shows drift there, and the next layer's own drift stays small")
    func layerwiseIsolatesBlocks() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        // The second model has decoder layer 1's and layer 2's MLP norms exchanged.
        let swapped = try MM1Model(config: package.manifest.config) { spec in
            let swap = ["language.layers.1.mlp_norm.weight": "language.layers.2.mlp_norm.weight",
                        "language.layers.2.mlp_norm.weight": "language.layers.1.mlp_norm.weight"]
            return try package.view(named: swap[spec.name] ?? spec.name)
        }
        let inputs = SyntheticInputs.make(package.manifest.config, seed: 3)
        let a = MM1Forward(model: package.model, weights: ViewWeights()), b = MM1Forward(model: swapped, weights: ViewWeights())
        let endToEnd = try Verifier.against(a, b, inputs: inputs, layerwise: false)
        let layerwise = try Verifier.against(a, b, inputs: inputs, layerwise: true)
        func drift(_ r: VerificationReport, _ stage: String) -> Double { r.stages.first { $0.stage == stage }!.metrics!.maxAbsError }
        #expect(drift(layerwise, "language.layer.0") == 0 && drift(endToEnd, "language.layer.0") == 0)
        #expect(drift(layerwise, "language.layer.1") > 0)
        #expect(drift(layerwise, "language.layer.3") == 0)  // layer 3 is unchanged and gets the same input
        #expect(drift(endToEnd, "language.layer.3") > 0)    // end to end, the error propagates
    }

    @Test("inputs that do not fit the model are typed errors")
    func badInputs() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let package = try Fixtures.importSample(into: dir)
        let forward = MM1Forward(model: package.model, weights: ViewWeights())
        var inputs = try Self.sampleReference().inputs
        inputs.inputIDs[0][0] = 255  // one image token too many
        #expect(throws: ReferenceError.input("input_ids hold 17 image tokens (id 255); the connector made 16")) { try forward.run(inputs) }
        inputs.inputIDs[0][0] = 9999
        #expect(throws: ReferenceError.input("token id 9999 is outside the vocabulary (0..<256)")) { try forward.run(inputs) }
        var text = SyntheticInputs.make(package.manifest.config, seed: 1)
        text.pixelValues = nil
        #expect(throws: ReferenceError.input("input_ids hold 16 image tokens (id 255) but there is no image")) { try forward.run(text) }
    }
}

/// Every case of Tests/Fixtures/forward: canonical weights + config + PyTorch's activations (made by
/// generate_forward.py from transformers, timm, Honeybee, open_clip and apple/ml-aim classes).
@Suite struct ForwardFixtureTests {
    static let cases = ["cabs-dense", "cabs-moe", "mlp-llava", "avgpool-gelu-b2", "avgpool-stride-kernel", "attnpool", "aim-cabs-27"]

    @Test("every stage of every fixture case matches PyTorch within 1e-4", arguments: cases)
    func matchesPyTorch(_ name: String) throws {
        let folder = Fixtures.path("forward/\(name)")
        let config = try MM1Config.decode(from: Data(contentsOf: URL(fileURLWithPath: "\(folder)/config.json")))
        let file = try SafetensorsFile(path: "\(folder)/model.safetensors")
        let model = try MM1Model(config: config) { try file.view(named: $0.name) }
        let reference = try ReferenceActivations.read("\(folder)/reference.safetensors")
        let report = try Verifier.verify(MM1Forward(model: model, weights: ViewWeights()), reference: reference)
        for stage in report.stages where stage.passed != true {
            Issue.record("\(name): \(stage.stage) scaled error \(stage.metrics?.scaledError ?? .infinity) \(stage.note ?? "")")
        }
        #expect(report.passed)
        #expect(report.stages.contains { $0.stage == "logits" } && report.stages.contains { $0.stage == "image_embeds" })
        #expect(report.stages.allSatisfy { $0.note == nil }, "every expected stage is one the forward pass computes")
        // Weights kept across passes (linear layers packed once, experts and head blocks sliced): the
        // same sums as reading them through the file, so the same bits, on the first pass and the next.
        let kept = MM1Forward(model: model, weights: CachedWeights())
        let mapped = try MM1Forward(model: model, weights: ViewWeights()).run(reference.inputs)
        for pass in 1...2 {
            let again = try kept.run(reference.inputs)
            for stage in mapped.order {
                let same = zip(mapped[stage]!.values, again[stage]!.values).allSatisfy { $0.bitPattern == $1.bitPattern }
                #expect(same, "\(name): \(stage) differs with CachedWeights (pass \(pass))")
            }
        }
    }
}
