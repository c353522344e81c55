import MM1Graph

/// The vision-language connector's forward pass on one image's features (`[N, C_vis]`, row-major
/// patch tokens), reporting its intermediate stages.
struct ConnectorForward<W: WeightProvider> {
    let config: ConnectorConfig
    let connector: Connector<W.Parameter>
    let weights: W

    /// The connector's output `[K, D]` (K image tokens of the decoder's width). `stage` receives
    /// intermediate results: `connector.pool` (average pool, tokens), and for the C-Abstractor
    /// `connector.stage.0`, `connector.pool`, `connector.stage.1` as NCHW planes `[C, h, w]`.
    func run(_ features: Matrix, stage: (String, [Int], Matrix) -> Void) throws(ReferenceError) -> Matrix {
        switch connector {
        case .mlp(let fc1, let fc2):
            guard case .mlp(let c) = config else { preconditionFailure("graph and config disagree") }
            var h = try LayerCalls.linear(features, fc1, weights)
            Ops.activate(&h, c.activation == .quickGELU ? .quickGELU : .gelu)
            return try LayerCalls.linear(h, fc2, weights)

        case .averagePool(let projection):
            guard case .averagePool(let c) = config else { preconditionFailure("graph and config disagree") }
            let side = try Self.side(of: features.rows), out = try Self.side(of: c.imageTokens)
            let pooled = ImageOps.averagePool(features, side: side, to: out, c.pooling)
            stage("connector.pool", [pooled.rows, pooled.cols], pooled)
            return try LayerCalls.linear(pooled, projection, weights)

        case .attentionPool(let a):
            guard case .attentionPool(let c) = config else { preconditionFailure("graph and config disagree") }
            let queries = try weights.weight(a.queries)
            let q0 = try LayerCalls.layerNorm(Matrix(rows: queries.rows, cols: queries.cols, values: queries.values), a.queryNorm, weights, eps: c.normEps)
            let kv = try LayerCalls.layerNorm(features, a.keyValueNorm, weights, eps: c.normEps)
            let q = try LayerCalls.linear(q0, a.attention.q, weights)
            let k = try LayerCalls.linear(kv, a.attention.k, weights), v = try LayerCalls.linear(kv, a.attention.v, weights)
            let attended = AttentionKernel.attend(q: q, k: k, v: v, heads: c.heads, kvHeads: c.heads, headDim: c.hiddenSize / c.heads, causal: false)
            let pooled = try LayerCalls.linear(attended, a.attention.o, weights)
            stage("connector.pool", [pooled.rows, pooled.cols], pooled)
            return try LayerCalls.linear(pooled, a.projection, weights)

        case .cAbstractor(let a):
            guard case .cAbstractor(let c) = config else { preconditionFailure("graph and config disagree") }
            var x = features
            if let positions = a.positionEmbedding {
                let table = try weights.weight(positions)
                Ops.add(&x, Matrix(rows: x.rows, cols: x.cols, values: table.values))
            }
            var side = try Self.side(of: x.rows)
            func planes(_ m: Matrix, _ side: Int) -> (shape: [Int], values: Matrix) { ([m.cols, side, side], m.transposed()) }
            for block in a.stage1 { x = try regBlock(x, side: side, block, eps: c.normEps) }
            if !a.stage1.isEmpty { let p = planes(x, side); stage("connector.stage.0", p.shape, p.values) }
            let out = try Self.side(of: c.imageTokens)
            x = ImageOps.averagePool(x, side: side, to: out, c.pooling)
            side = out
            let pooled = planes(x, side)
            stage("connector.pool", pooled.shape, pooled.values)
            for block in a.stage2 { x = try regBlock(x, side: side, block, eps: c.normEps) }
            if !a.stage2.isEmpty { let p = planes(x, side); stage("connector.stage.1", p.shape, p.values) }
            for (i, layer) in a.readout.enumerated() {
                if i > 0 { Ops.activate(&x, .silu) }
                x = try LayerCalls.linear(x, layer, weights)
            }
            return x
        }
    }

    /// One timm RegNet `Bottleneck` as Honeybee configures it (bottle ratio 1, depthwise 3×3,
    /// squeeze-excitation, LayerNorm2d, SiLU), channels-last.
    private func regBlock(_ x: Matrix, side: Int, _ b: CAbstractor<W.Parameter>.Block, eps: Double) throws(ReferenceError) -> Matrix {
        func conv1x1(_ m: Matrix, _ p: W.Parameter, bias: W.Parameter? = nil) throws(ReferenceError) -> Matrix {
            let w = try weights.weight(p)
            guard w.cols == m.cols else { throw .parameter(weights.name(of: p), "expects \(w.cols) channels, got \(m.cols)") }
            return Ops.linear(m, w, try bias.map { (b) throws(ReferenceError) in try weights.weight(b) })
        }
        func norm(_ m: Matrix, _ n: Norm<W.Parameter>) throws(ReferenceError) -> Matrix { try LayerCalls.layerNorm(m, n, weights, eps: eps) }

        var y = try norm(try conv1x1(x, b.conv1), b.norm1)
        Ops.activate(&y, .silu)
        y = try norm(ImageOps.depthwise3x3(y, side: side, weight: try weights.weight(b.conv2)), b.norm2)
        Ops.activate(&y, .silu)
        var gate = try conv1x1(ImageOps.columnMeans(y), b.seReduce, bias: b.seReduceBias)
        Ops.activate(&gate, .silu)
        gate = try conv1x1(gate, b.seExpand, bias: b.seExpandBias)
        Ops.activate(&gate, .sigmoid)
        ImageOps.scaleColumns(&y, by: gate)
        y = try norm(try conv1x1(y, b.conv3), b.norm3)
        let shortcut = try b.downsample.map { (d) throws(ReferenceError) in try norm(try conv1x1(x, d.conv), d.norm) } ?? x
        Ops.add(&y, shortcut)
        Ops.activate(&y, .silu)
        return y
    }

    /// The side of a square grid of `tokens` tokens.
    static func side(of tokens: Int) throws(ReferenceError) -> Int {
        let side = Int(Double(tokens).squareRoot().rounded())
        guard side * side == tokens else { throw .input("\(tokens) tokens do not form a square grid") }
        return side
    }
}
