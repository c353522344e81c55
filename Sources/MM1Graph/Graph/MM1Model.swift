/// A whole MM1 model as a typed tree whose leaves are `P`: ``ParameterSpec`` for the graph, a
/// package's `StoredTensor` for a loaded package (`model.language.layers[3].attention.q.weight`), or
/// whatever a runtime turns them into with ``map(_:)``.
///
/// Besides the tree, every parameter is in ``parameters`` in declaration order, so a loader can walk
/// them without knowing the components' shapes:
///
/// ```swift
/// try package.model.forEachParameter(in: .language) { spec, stored in
///     print(spec.name, spec.role, stored.storageDescription)
/// }
/// let mine = try package.model.map { spec, stored in try upload(stored) }   // MM1Model<MyTensor>
/// ```
public struct MM1Model<P> {
    /// The configuration the tree was built from.
    public let config: MM1Config
    /// The image encoder's parameters (`vision.*`).
    public let vision: VisionEncoder<P>
    /// The connector's parameters (`connector.*`), one case per connector kind.
    public let connector: Connector<P>
    /// The decoder's parameters (`language.*`).
    public let language: LanguageModel<P>
    /// Every parameter's specification, in declaration order (vision, connector, language).
    public let specs: [ParameterSpec]
    /// Every parameter with its specification, in the order of ``specs``.
    public let parameters: [(spec: ParameterSpec, value: P)]

    /// Builds the tree, asking `make` for each parameter, in the order of ``specs``.
    /// - Throws: `Shape.Invalid` when `config` implies a shape out of range (an unchecked config;
    ///   ``MM1Config/problems()`` lists why), or whatever `make` throws.
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
        parameters = Array(zip(specs, vb.values + cb.values + lb.values)).map { (spec: $0, value: $1) }
    }

    /// Calls `visit` with every parameter in declaration order, or only those of `component`.
    /// - Throws: whatever `visit` throws; the walk stops there.
    public func forEachParameter<E: Error>(in component: Component? = nil, _ visit: (ParameterSpec, P) throws(E) -> Void) throws(E) {
        for (spec, value) in parameters where component == nil || spec.component == component { try visit(spec, value) }
    }

    /// The same tree with every leaf replaced by `transform(spec, leaf)`, called once per parameter in
    /// declaration order: how a runtime turns a package's stored tensors into its own.
    /// - Throws: whatever `transform` throws.
    public func map<Q>(_ transform: (ParameterSpec, P) throws -> Q) throws -> MM1Model<Q> {
        let values = try parameters.map { try transform($0.spec, $0.value) }
        var next = 0
        return try MM1Model<Q>(config: config) { spec in
            defer { next += 1 }
            precondition(spec == parameters[next].spec, "the graph of one config is built in one order")
            return values[next]
        }
    }
}

extension MM1Model where P == ParameterSpec {
    /// The graph of `config`: every parameter with its canonical name, shape and role.
    /// - Throws: `Shape.Invalid` when `config` implies a shape out of range (see ``MM1Config/problems()``).
    public init(graphOf config: MM1Config) throws {
        try self.init(config: config) { $0 }
    }
}
