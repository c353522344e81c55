import Foundation
import MM1Graph

/// The image encoder's forward pass (HF `CLIPVisionModel` or AIM v1 trunk), one image at a time.
struct VisionForward<W: WeightProvider> {
    let config: VisionConfig
    let encoder: VisionEncoder<W.Parameter>
    let weights: W

    /// `hidden_states[0]`: patch embedding, class token and positions (CLIP, then `pre_layrnorm`), or
    /// patch embedding, its LayerNorm and the fixed 2-D sin-cos positions (AIM). `image` is CHW.
    func embed(_ image: UnsafeBufferPointer<Float>) throws(ReferenceError) -> Matrix {
        let p = config.patchSize, s = config.imageSize, d = config.width
        let kernel = try weights.weight(encoder.patchEmbedding)
        var h = Ops.linear(ImageOps.patches(image, channels: 3, size: s, patch: p), kernel,
                           try encoder.patchBias.map { (b) throws(ReferenceError) in try weights.weight(b) })
        if let norm = encoder.patchNorm { h = try layerNorm(h, norm) }
        if let classToken = encoder.classToken {
            let cls = try weights.weight(classToken)
            h = Matrix.concatenating([Matrix(rows: 1, cols: d, values: cls.values), h])
        }
        if let positions = encoder.positionEmbedding {
            let table = try weights.weight(positions)
            Ops.add(&h, Matrix(rows: h.rows, cols: d, values: table.values))
        } else {
            Ops.add(&h, Self.sinCosPositions(grid: config.grid, width: d))
        }
        if let norm = encoder.preNorm { h = try layerNorm(h, norm) }
        return h
    }

    /// Encoder layer `index`: pre-norm attention (no mask) and MLP, each with a residual.
    func layer(_ index: Int, _ h: Matrix) throws(ReferenceError) -> Matrix {
        let layer = encoder.layers[index]
        let heads = config.heads, headDim = config.width / config.heads
        let a = try layerNorm(h, layer.norm1)
        let qkv = try LayerCalls.linear(a, [layer.attention.q, layer.attention.k, layer.attention.v], weights)
        let (q, k, v) = (qkv[0], qkv[1], qkv[2])
        let attended = AttentionKernel.attend(q: q, k: k, v: v, heads: heads, kvHeads: heads, headDim: headDim, causal: false)
        var out = h
        Ops.add(&out, try linear(attended, layer.attention.o))
        var f = try linear(try layerNorm(out, layer.norm2), layer.fc1)
        Ops.activate(&f, config.activation == .quickGELU ? .quickGELU : .gelu)
        Ops.add(&out, try linear(f, layer.fc2))
        return out
    }

    /// What enters the connector: the hidden state of `feature_layer` without the class token when
    /// the config drops it.
    func features(_ hidden: Matrix) -> Matrix {
        config.hasClassToken && config.dropClassToken ? hidden.rows(1..<hidden.rows) : hidden
    }

    /// AIM v1's fixed positions: token (i, j) → `[sin(jω), cos(jω), sin(iω), cos(iω)]`,
    /// `ω_k = 1 / 10000^(k / (D/4))`, computed in f32 as `SinCosPosEmbed` does.
    static func sinCosPositions(grid g: Int, width d: Int) -> Matrix {
        let quarter = d / 4
        let omega: [Float] = (0..<quarter).map { k in
            1 / Float(pow(10000, Double(Float(k) / (Float(d / 2) / 2))))
        }
        var out = Matrix(rows: g * g, cols: d)
        for i in 0..<g {
            for j in 0..<g {
                let row = (i * g + j) * d
                for k in 0..<quarter {
                    let x = Float(j) * omega[k], y = Float(i) * omega[k]
                    out.values[row + k] = Float(sin(Double(x)))
                    out.values[row + quarter + k] = Float(cos(Double(x)))
                    out.values[row + 2 * quarter + k] = Float(sin(Double(y)))
                    out.values[row + 3 * quarter + k] = Float(cos(Double(y)))
                }
            }
        }
        return out
    }

    private func layerNorm(_ x: Matrix, _ norm: Norm<W.Parameter>) throws(ReferenceError) -> Matrix {
        try LayerCalls.layerNorm(x, norm, weights, eps: config.normEps)
    }

    private func linear(_ x: Matrix, _ l: Linear<W.Parameter>) throws(ReferenceError) -> Matrix {
        try LayerCalls.linear(x, l, weights)
    }
}

/// Graph layers applied through a ``WeightProvider``: fetch the weights, run the op, drop the weights.
enum LayerCalls {
    static func linear<W: WeightProvider>(_ x: Matrix, _ l: Linear<W.Parameter>, _ weights: W) throws(ReferenceError) -> Matrix {
        try linear(x, [l], weights)[0]
    }

    /// Linear layers over the same input, in one product (q, k and v of an attention).
    static func linear<W: WeightProvider>(_ x: Matrix, _ layers: [Linear<W.Parameter>], _ weights: W) throws(ReferenceError) -> [Matrix] {
        var fetched: [(weight: Weight, bias: Weight?)] = []
        for l in layers {
            let weight = try weights.linearWeight(l.weight)
            guard weight.cols == x.cols else { throw .parameter(weights.name(of: l.weight), "expects \(weight.cols) inputs, got \(x.cols)") }
            fetched.append((weight, try l.bias.map { (b) throws(ReferenceError) in try weights.weight(b) }))
        }
        return Ops.linear(x, fetched)
    }

    static func layerNorm<W: WeightProvider>(_ x: Matrix, _ n: Norm<W.Parameter>, _ weights: W, eps: Double) throws(ReferenceError) -> Matrix {
        Ops.layerNorm(x, try weights.weight(n.weight), try n.bias.map { (b) throws(ReferenceError) in try weights.weight(b) }, eps: eps)
    }
}
