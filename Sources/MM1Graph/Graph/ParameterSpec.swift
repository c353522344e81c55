import MM1Tensor

/// The part of the model a parameter belongs to.
public enum Component: String, Sendable, Codable, CaseIterable {
    case vision, connector, language
}

/// What a parameter does; decides how it may be stored and converted.
public enum ParameterRole: String, Sendable, Codable, CaseIterable {
    case linearWeight, bias, convolutionWeight, normWeight, normBias
    case tokenEmbedding, positionEmbedding, classToken, learnedQueries
    case routerWeight, expertWeight, outputHead
}

/// One parameter of the graph: its canonical name, the shape the configuration implies, its role,
/// and whether it may be quantized.
public struct ParameterSpec: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Canonical name, e.g. `language.layers.3.attention.q.weight`.
    public let name: String
    public let shape: Shape
    public let role: ParameterRole
    public let component: Component

    public init(name: String, shape: Shape, role: ParameterRole, component: Component) {
        self.name = name
        self.shape = shape
        self.role = role
        self.component = component
    }

    /// Large matrices a quantizer may store in fewer bits (the token embedding and output head
    /// included; quantization policies keep them in float by default).
    public var isQuantizable: Bool {
        switch role {
        case .linearWeight, .expertWeight, .tokenEmbedding, .outputHead: true
        default: false
        }
    }

    public var description: String { "\(name) \(shape)" }
}

/// Makes the parameters of a graph, in declaration order, from a factory that turns each
/// specification into a value: the specification itself (the graph), a package's stored tensor (a
/// loaded package), or anything else.
public struct ParameterBuilder<Value> {
    private let make: (ParameterSpec) throws -> Value
    /// Every specification made so far, in order.
    public private(set) var specs: [ParameterSpec] = []
    /// Every value made so far, in the order of ``specs``.
    public private(set) var values: [Value] = []
    private var prefix: [String] = []
    private let component: Component

    /// A builder for the parameters of `component`, each made by `make`.
    public init(component: Component, make: @escaping (ParameterSpec) throws -> Value) {
        self.component = component
        self.make = make
    }

    /// A parameter called `prefix.name` with `shape`.
    /// - Throws: `Shape.Invalid` when `dimensions` is not a shape, or whatever `make` throws.
    public mutating func parameter(_ name: String, _ dimensions: [Int], _ role: ParameterRole) throws -> Value {
        let spec = ParameterSpec(name: (prefix + [name]).joined(separator: "."), shape: try Shape(dimensions), role: role, component: component)
        let value = try make(spec)
        specs.append(spec)
        values.append(value)
        return value
    }

    /// Runs `body` with `name` appended to the prefix of every parameter it makes.
    public mutating func scope<T>(_ name: String, _ body: (inout ParameterBuilder) throws -> T) rethrows -> T {
        prefix.append(name)
        defer { prefix.removeLast() }
        return try body(&self)
    }
}
