import MM1Graph

/// The decoder's forward pass (HF `LlamaForCausalLM`, with Mixtral sparse blocks where the config
/// makes a layer MoE) on one sequence.
struct LanguageForward<W: WeightProvider> {
    let config: LanguageConfig
    let model: LanguageModel<W.Parameter>
    let weights: W

    /// The token embeddings of `ids`, with the rows at image-placeholder positions replaced, in
    /// order, by `imageEmbeds` (HF LLaVA's `masked_scatter`).
    func embed(_ ids: [Int], imageEmbeds: Matrix?) throws(ReferenceError) -> Matrix {
        if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw .input("token id \(bad) is outside the vocabulary (0..<\(config.vocabSize))")
        }
        let slots = ids.indices.filter { ids[$0] == config.imageTokenID }
        let rows = imageEmbeds?.rows ?? 0
        guard slots.count == rows else {
            throw .input(imageEmbeds == nil
                ? "input_ids hold \(slots.count) image tokens (id \(config.imageTokenID)) but there is no image"
                : "input_ids hold \(slots.count) image tokens (id \(config.imageTokenID)); the connector made \(rows)")
        }
        var h = try weights.rows(model.embedTokens, ids)
        if let imageEmbeds {
            guard imageEmbeds.cols == h.cols else { throw .input("image embeddings are \(imageEmbeds.cols) wide, the decoder \(h.cols)") }
            for (k, position) in slots.enumerated() {
                h.values.replaceSubrange((position * h.cols)..<((position + 1) * h.cols), with: imageEmbeds.row(k))
            }
        }
        return h
    }

    /// Decoder layer `index`: RMSNorm, rotary grouped-query causal attention, RMSNorm, SwiGLU or MoE.
    func layer(_ index: Int, _ h: Matrix, rotary: Rotary) throws(ReferenceError) -> Matrix {
        let layer = model.layers[index]
        let eps = config.rmsNormEps
        let a = Ops.rmsNorm(h, try weights.weight(layer.attentionNorm), eps: eps)
        let qkv = try LayerCalls.linear(a, [layer.attention.q, layer.attention.k, layer.attention.v], weights)
        var (q, k) = (qkv[0], qkv[1])
        let v = qkv[2]
        rotary.apply(&q)
        rotary.apply(&k)
        let attended = AttentionKernel.attend(q: q, k: k, v: v, heads: config.heads, kvHeads: config.kvHeads,
                                              headDim: config.headDim, causal: true)
        var out = h
        Ops.add(&out, try LayerCalls.linear(attended, layer.attention.o, weights))
        let f = Ops.rmsNorm(out, try weights.weight(layer.mlpNorm), eps: eps)
        switch layer.feedForward {
        case .dense(let gate, let up, let down):
            Ops.add(&out, try swiGLU(f, gate: try weights.linearWeight(gate), up: try weights.linearWeight(up), down: try weights.linearWeight(down)))
        case .sparse(let router, let gate, let up, let down):
            Ops.add(&out, try mixture(f, router: router, gate: gate, up: up, down: down))
        }
        return out
    }

    /// Final RMSNorm and the output head (the token embedding when tied), in blocks of vocabulary rows
    /// so that only one block of the head is converted at a time.
    func logits(_ h: Matrix) throws(ReferenceError) -> Matrix {
        let x = Ops.rmsNorm(h, try weights.weight(model.norm), eps: config.rmsNormEps)
        let head = model.lmHead ?? model.embedTokens
        var out = Matrix(uninitializedRows: x.rows, cols: config.vocabSize)
        let block = max(1, (8 << 20) / max(config.hiddenSize, 1))  // ≈ 32 MB of f32 per block
        var start = 0
        while start < config.vocabSize {
            let end = min(config.vocabSize, start + block)
            let w = try weights.linearWeight(head, slice: start..<end)
            x.values.withUnsafeBufferPointer { a in
                out.values.withUnsafeMutableBufferPointer { c in
                    BLAS.linear(a.baseAddress!, tokens: x.rows, width: x.cols, ldx: x.cols, [w.linearOutput(into: c.baseAddress! + start, ldc: out.cols)])
                }
            }
            start = end
        }
        return out
    }

    /// `down(silu(gate · x) ⊙ up · x)`.
    private func swiGLU(_ x: Matrix, gate: Weight, up: Weight, down: Weight) throws(ReferenceError) -> Matrix {
        let gateUp = Ops.linear(x, [(gate, nil), (up, nil)])
        var g = gateUp[0]
        let u = gateUp[1]
        Ops.activate(&g, .silu)
        g.values.withUnsafeMutableBufferPointer { gp in
            u.values.withUnsafeBufferPointer { up in
                for i in 0..<gp.count { gp[i] *= up[i] }
            }
        }
        return Ops.linear(g, down)
    }

    /// HF Mixtral's sparse block: router softmax in f32, top-k, weights renormalised (when the config
    /// says so), each chosen expert's SwiGLU weighted and summed in expert order.
    private func mixture(_ x: Matrix, router: W.Parameter, gate: W.Parameter, up: W.Parameter, down: W.Parameter) throws(ReferenceError) -> Matrix {
        guard let moe = config.moe else { preconditionFailure("sparse layer without an MoE config") }
        var probabilities = Ops.linear(x, try weights.weight(router))
        let experts = moe.experts, k = moe.topK
        var chosen: [[(token: Int, weight: Float)]] = Array(repeating: [], count: experts)
        probabilities.values.withUnsafeMutableBufferPointer { p in
            for t in 0..<x.rows {
                let row = p.baseAddress! + t * experts
                Ops.softmax(row, count: experts)
                // torch.topk: largest first; among equal values the lower index first.
                let top = (0..<experts).sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(k)
                var total: Float = 0
                for e in top { total += row[e] }
                for e in top { chosen[e].append((t, moe.normalizeTopK ? row[e] / total : row[e])) }
            }
        }
        var out = Matrix(rows: x.rows, cols: x.cols)
        for e in 0..<experts where !chosen[e].isEmpty {
            let tokens = chosen[e]
            var rows = Matrix(rows: tokens.count, cols: x.cols)
            for (i, token) in tokens.enumerated() {
                rows.values.replaceSubrange((i * x.cols)..<((i + 1) * x.cols), with: x.row(token.token))
            }
            let y = try swiGLU(rows, gate: try weights.linearWeight(gate, slice: e..<(e + 1)).asMatrixWeight(),
                               up: try weights.linearWeight(up, slice: e..<(e + 1)).asMatrixWeight(),
                               down: try weights.linearWeight(down, slice: e..<(e + 1)).asMatrixWeight())
            for (i, token) in tokens.enumerated() {
                for c in 0..<x.cols { out.values[token.token * x.cols + c] += token.weight * y.values[i * x.cols + c] }
            }
        }
        return out
    }
}
