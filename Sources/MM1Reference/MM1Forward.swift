import MM1Graph

/// The inputs of one forward pass: `B` sequences of token ids and, unless the check is text-only,
/// one normalised image per sequence.
public struct ForwardInputs: Sendable, Equatable {
    /// `B × 3 × S × S` pixel values (CHW per image, normalised as the encoder expects), or nil.
    public var pixelValues: [Float]?
    /// `S`, the side of each image in pixels (when `pixelValues` is set).
    public var imageSize: Int
    /// `B` sequences of equal length; each holds the image placeholder id once per image token. Empty
    /// sequences make an encoder-and-connector-only pass.
    public var inputIDs: [[Int]]

    public init(pixelValues: [Float]?, imageSize: Int, inputIDs: [[Int]]) {
        self.pixelValues = pixelValues
        self.imageSize = imageSize
        self.inputIDs = inputIDs
    }

    /// Number of sequences.
    public var batch: Int { inputIDs.count }
}

/// One stage's output for the whole batch: `[B, …]`, f32, row-major.
public struct StageTensor: Sendable, Equatable {
    /// Batch dimension first, then the stage's own dimensions.
    public var shape: [Int]
    /// `shape`'s product of values.
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// Stage outputs of a forward pass (computed, or expected by a reference file) in pipeline order,
/// each found by name: `stages["logits"]`, or `for (stage, tensor) in stages`. Stage names are those
/// of the reference-activations file without `expect.` (`vision.embeddings`, `vision.layer.3`,
/// `vision_features`, `connector.stage.0`, `connector.pool`, `connector.stage.1`, `image_embeds`,
/// `language.embeddings`, `language.layer.0`, `logits`).
public struct ForwardStages: Sendable, Sequence {
    /// Stage names in pipeline order.
    public private(set) var order: [String] = []
    /// Each stage's tensor.
    public private(set) var tensors: [String: StageTensor] = [:]

    /// No stages.
    public init() {}

    /// `stages` put in pipeline order (``pipelineOrder(_:_:)``); names the forward pass does not
    /// compute come last, in the order given.
    /// - Precondition: the names differ.
    public init(pipelineOrderOf stages: [(stage: String, tensor: StageTensor)]) {
        let ranked = stages.enumerated().sorted { a, b in
            switch (Self.pipelinePosition(a.element.stage), Self.pipelinePosition(b.element.stage)) {
            case let (x?, y?): x < y || (x == y && a.offset < b.offset)
            case (.some, nil): true
            case (nil, .some): false
            case (nil, nil): a.offset < b.offset
            }
        }
        order = ranked.map(\.element.stage)
        tensors = Dictionary(uniqueKeysWithValues: stages.map { ($0.stage, $0.tensor) })
    }

    /// Appends one sample's value of `stage` (`sampleShape`, without the batch dimension).
    mutating func append(_ stage: String, sampleShape: [Int], _ values: [Float]) {
        if var tensor = tensors[stage] {
            tensor.shape[0] += 1
            tensor.values.append(contentsOf: values)
            tensors[stage] = tensor
        } else {
            order.append(stage)
            tensors[stage] = StageTensor(shape: [1] + sampleShape, values: values)
        }
    }

    /// The tensor of `stage`, or nil when there is none.
    public subscript(stage: String) -> StageTensor? { tensors[stage] }

    /// How many stages.
    public var count: Int { order.count }

    /// The stages with their tensors, in pipeline order.
    public func makeIterator() -> Iterator { Iterator(names: order.makeIterator(), tensors: tensors) }

    /// Walks the stages in pipeline order.
    public struct Iterator: IteratorProtocol {
        fileprivate var names: IndexingIterator<[String]>
        fileprivate let tensors: [String: StageTensor]
        /// The next stage and its tensor.
        public mutating func next() -> (stage: String, tensor: StageTensor)? { names.next().map { (stage: $0, tensor: tensors[$0]!) } }
    }

    /// Whether the forward pass computes stage `a` before stage `b`; stages it does not compute
    /// compare as neither.
    public static func pipelineOrder(_ a: String, _ b: String) -> Bool {
        guard let x = pipelinePosition(a), let y = pipelinePosition(b) else { return false }
        return x < y
    }

    /// The stages of one block or step, in the order ``MM1Forward/run(_:keep:)`` computes them; the
    /// numbered ones (`vision.layer.N`, `language.layer.N`) by their number.
    private static let pipeline = ["vision.embeddings", "vision.layer.", "vision_features", "connector.stage.0", "connector.pool",
                                   "connector.stage.1", "image_embeds", "language.embeddings", "language.layer.", "logits"]

    /// `(step, layer)` of a stage the forward pass computes, nil for any other name.
    private static func pipelinePosition(_ stage: String) -> (Int, Int)? {
        if let step = pipeline.firstIndex(of: stage) { return (step, 0) }
        for (step, prefix) in pipeline.enumerated() where prefix.hasSuffix(".") && stage.hasPrefix(prefix) {
            let number = stage.dropFirst(prefix.count)
            guard let layer = Int(number), String(layer) == number else { return nil }
            return (step, layer)
        }
        return nil
    }
}

/// The steps of an MM1 forward pass, one block at a time, so that a driver can run one model end to
/// end or several models in lockstep (feeding all of them the same input to each block).
protocol ForwardSteps {
    var config: MM1Config { get }
    func visionEmbed(_ image: UnsafeBufferPointer<Float>) throws(ReferenceError) -> Matrix
    func visionLayer(_ index: Int, _ h: Matrix) throws(ReferenceError) -> Matrix
    func visionFeatures(_ hidden: Matrix) -> Matrix
    func connect(_ features: Matrix, stage: (String, [Int], Matrix) -> Void) throws(ReferenceError) -> Matrix
    func languageEmbed(_ ids: [Int], imageEmbeds: Matrix?) throws(ReferenceError) -> Matrix
    func languageLayer(_ index: Int, _ h: Matrix, rotary: Rotary) throws(ReferenceError) -> Matrix
    func logits(_ h: Matrix) throws(ReferenceError) -> Matrix
}

/// The reference forward pass of an MM1 model on the CPU, in f32: image encoder, connector and
/// decoder with image-token splicing, as PyTorch computes them. Weights come
/// from a ``WeightProvider`` one layer at a time; matrix products go through BLAS.
///
/// ```swift
/// let package = try MM1Package.open("model.mm1")
/// let forward = MM1Forward(model: package.model, weights: ViewWeights())
/// let stages = try forward.run(inputs)
/// let logits = stages["logits"]!   // [B, T, vocab]
/// ```
public struct MM1Forward<W: WeightProvider>: ForwardSteps {
    public let model: MM1Model<W.Parameter>
    public let weights: W
    var config: MM1Config { model.config }
    private let vision: VisionForward<W>
    private let connector: ConnectorForward<W>
    private let language: LanguageForward<W>

    public init(model: MM1Model<W.Parameter>, weights: W) {
        self.model = model
        self.weights = weights
        vision = VisionForward(config: model.config.vision, encoder: model.vision, weights: weights)
        connector = ConnectorForward(config: model.config.connector, connector: model.connector, weights: weights)
        language = LanguageForward(config: model.config.language, model: model.language, weights: weights)
    }

    /// Runs the whole model on `inputs` and returns the stages `keep` selects (all by default).
    public func run(_ inputs: ForwardInputs, keep: (String) -> Bool = { _ in true }) throws(ReferenceError) -> ForwardStages {
        try Lockstep.run([self], inputs, feed: .own, keep: keep)[0]
    }

    func visionEmbed(_ image: UnsafeBufferPointer<Float>) throws(ReferenceError) -> Matrix { try vision.embed(image) }
    func visionLayer(_ index: Int, _ h: Matrix) throws(ReferenceError) -> Matrix { try vision.layer(index, h) }
    func visionFeatures(_ hidden: Matrix) -> Matrix { vision.features(hidden) }
    func connect(_ features: Matrix, stage: (String, [Int], Matrix) -> Void) throws(ReferenceError) -> Matrix {
        try connector.run(features, stage: stage)
    }
    func languageEmbed(_ ids: [Int], imageEmbeds: Matrix?) throws(ReferenceError) -> Matrix { try language.embed(ids, imageEmbeds: imageEmbeds) }
    func languageLayer(_ index: Int, _ h: Matrix, rotary: Rotary) throws(ReferenceError) -> Matrix { try language.layer(index, h, rotary: rotary) }
    func logits(_ h: Matrix) throws(ReferenceError) -> Matrix { try language.logits(h) }
}

/// Runs one or more models with the same architecture block by block over the same inputs.
enum Lockstep {
    /// Where each model's block input comes from.
    enum Feed {
        /// Its own previous output (end to end).
        case own
        /// The first model's previous output (layerwise: every block of every model sees the same input).
        case first
    }

    static func run(_ models: [any ForwardSteps], _ inputs: ForwardInputs, feed: Feed, keep: (String) -> Bool) throws(ReferenceError) -> [ForwardStages] {
        try BLAS.prepare()
        guard let config = models.first?.config else { return [] }
        let vision = config.vision, language = config.language
        var stages = [ForwardStages](repeating: ForwardStages(), count: models.count)
        func input(_ values: [Matrix], _ r: Int) -> Matrix { feed == .first ? values[0] : values[r] }
        func record(_ name: String, _ values: [Matrix], shape: (Matrix) -> [Int] = { [$0.rows, $0.cols] }) {
            guard keep(name) else { return }
            for r in values.indices { stages[r].append(name, sampleShape: shape(values[r]), values[r].values) }
        }
        func step(_ body: (Int) throws(ReferenceError) -> Matrix) throws(ReferenceError) -> [Matrix] {
            var out: [Matrix] = []
            for r in models.indices { out.append(try body(r)) }
            return out
        }

        let length = inputs.inputIDs.first?.count ?? 0
        guard inputs.inputIDs.allSatisfy({ $0.count == length }) else { throw .input("the sequences of input_ids differ in length") }
        let rotary = Rotary(headDim: language.headDim, theta: language.ropeTheta, positions: length)
        let pixelsPerImage = 3 * inputs.imageSize * inputs.imageSize
        if let pixels = inputs.pixelValues {
            guard inputs.imageSize == vision.imageSize else {
                throw .input("images are \(inputs.imageSize)×\(inputs.imageSize) px, the encoder takes \(vision.imageSize)×\(vision.imageSize)")
            }
            guard pixels.count == inputs.batch * pixelsPerImage else {
                throw .input("\(pixels.count / max(pixelsPerImage, 1)) images for \(inputs.batch) sequences")
            }
        }

        for b in 0..<inputs.batch {
            var imageEmbeds: [Matrix]? = nil
            if let pixels = inputs.pixelValues {
                var h = try pixels.withUnsafeBufferPointer { (p) throws(ReferenceError) -> [Matrix] in
                    let image = UnsafeBufferPointer(rebasing: p[(b * pixelsPerImage)..<((b + 1) * pixelsPerImage)])
                    return try step { (r) throws(ReferenceError) in try models[r].visionEmbed(image) }
                }
                record("vision.embeddings", h)
                var tapped = vision.featureDepth == 0 ? h : nil
                for i in 0..<vision.depth {
                    let previous = h
                    h = try step { (r) throws(ReferenceError) in try models[r].visionLayer(i, input(previous, r)) }
                    record("vision.layer.\(i)", h)
                    if i + 1 == vision.featureDepth { tapped = h }
                }
                let features = models.indices.map { models[$0].visionFeatures(tapped![$0]) }
                record("vision_features", features)
                var connectorStages: [String: [Matrix]] = [:], shapes: [String: [Int]] = [:], order: [String] = []
                let embeds = try step { (r) throws(ReferenceError) in
                    try models[r].connect(input(features, r)) { name, shape, value in
                        if connectorStages[name] == nil { order.append(name) }
                        connectorStages[name, default: []].append(value)
                        shapes[name] = shape
                    }
                }
                for name in order { record(name, connectorStages[name]!, shape: { _ in shapes[name]! }) }
                record("image_embeds", embeds)
                imageEmbeds = embeds
            }
            let ids = inputs.inputIDs[b]
            guard !ids.isEmpty else { continue }  // an encoder-only pass
            var h = try step { (r) throws(ReferenceError) in try models[r].languageEmbed(ids, imageEmbeds: imageEmbeds.map { input($0, r) }) }
            record("language.embeddings", h)
            for i in 0..<language.layers {
                let previous = h
                h = try step { (r) throws(ReferenceError) in try models[r].languageLayer(i, input(previous, r), rotary: rotary) }
                record("language.layer.\(i)", h)
            }
            let final = h
            record("logits", try step { (r) throws(ReferenceError) in try models[r].logits(input(final, r)) })
        }
        return stages
    }
}
