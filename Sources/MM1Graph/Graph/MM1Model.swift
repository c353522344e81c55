/// A whole MM1 model as a typed tree whose leaves are `P`: ``ParameterSpec`` for the graph, or a
/// tensor view for a loaded package (`model.language.layers[3].attention.q.weight`).
public struct MM1Model<P> {
    public let config: MM1Config
    public let vision: VisionEncoder<P>
    public let connector: Connector<P>
    public let language: LanguageModel<P>
    /// Every parameter's specification, in declaration order (vision, connector, language).
    public let specs: [ParameterSpec]

    /// Builds the tree, asking `make` for each parameter.
    public init(config: MM1Config, make: @escaping (ParameterSpec) throws -> P) throws {
        self.config = config
        var vb = ParameterBuilder<P>(component: .vision, make: make)
        var cb = ParameterBuilder<P>(component: .connector, make: make)
        var lb = ParameterBuilder<P>(component: .language, make: make)
        vision = try vb.scope("vision") { b in try VisionEncoder(config.vision, &b) }
        connector = try cb.scope("connector") { b in
            try Connector(config.connector, inputWidth: config.vision.width, outputWidth: config.language.hiddenSize,
                          grid: config.vision.grid, &b)
        }
        language = try lb.scope("language") { b in try LanguageModel(config.language, &b) }
        specs = vb.specs + cb.specs + lb.specs
    }
}

extension MM1Model where P == ParameterSpec {
    /// The graph of `config`: every parameter with its canonical name, shape and role.
    public init(graphOf config: MM1Config) throws {
        try self.init(config: config) { $0 }
    }
}
