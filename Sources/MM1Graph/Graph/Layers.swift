/// Building blocks shared by the components. Each is generic over what a parameter is
/// (``ParameterSpec`` for the graph, a package's stored tensor, or a runtime's own tensor type).

/// `y = x·Wᵀ + b`; weight `[out, in]`.
public struct Linear<P> {
    public let weight: P
    public let bias: P?

    init(_ b: inout ParameterBuilder<P>, _ name: String, out: Int, in inputs: Int, bias: Bool, role: ParameterRole = .linearWeight) throws {
        (weight, self.bias) = try b.scope(name) { b in
            (try b.parameter("weight", [out, inputs], role), bias ? try b.parameter("bias", [out], .bias) : nil)
        }
    }
}

/// LayerNorm (weight and bias) or RMSNorm (weight only), over `width` features.
public struct Norm<P> {
    public let weight: P
    public let bias: P?

    init(_ b: inout ParameterBuilder<P>, _ name: String, width: Int, bias: Bool = true) throws {
        (weight, self.bias) = try b.scope(name) { b in
            (try b.parameter("weight", [width], .normWeight), bias ? try b.parameter("bias", [width], .normBias) : nil)
        }
    }
}

/// Multi-head attention projections q, k, v, o.
public struct Attention<P> {
    public let q: Linear<P>
    public let k: Linear<P>
    public let v: Linear<P>
    public let o: Linear<P>

    /// - Parameters: `queryWidth` = heads·head_dim, `keyValueWidth` = kv_heads·head_dim,
    ///   `inputWidth`/`keyInputWidth` the widths the projections read (different in cross-attention).
    init(_ b: inout ParameterBuilder<P>, hidden: Int, queryWidth: Int, keyValueWidth: Int, keyInputWidth: Int? = nil, bias: Bool) throws {
        (q, k, v, o) = try b.scope("attention") { b in
            (try Linear(&b, "q", out: queryWidth, in: hidden, bias: bias),
             try Linear(&b, "k", out: keyValueWidth, in: keyInputWidth ?? hidden, bias: bias),
             try Linear(&b, "v", out: keyValueWidth, in: keyInputWidth ?? hidden, bias: bias),
             try Linear(&b, "o", out: hidden, in: queryWidth, bias: bias))
        }
    }
}
