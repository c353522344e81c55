import MM1Tensor

/// Whether sources, transformed, give a parameter's shape.
enum ShapeCheck {
    struct Failure: Error {
        let found: [Int]
        let detail: String
    }

    /// `.success(true)` when a leading row is trimmed, `.success(false)` otherwise.
    static func result(of transform: MappingTransform, sources: [TensorInfo], target: ParameterSpec) -> Result<Bool, Failure> {
        let want = target.shape.dimensions
        let first = sources[0].shape.dimensions
        if let bad = sources.first(where: { !$0.dtype.isConvertible || !$0.dtype.isFloatingPoint }) {
            return .failure(Failure(found: bad.shape.dimensions, detail: "dtype \(bad.dtype) cannot hold weights mm1conv converts"))
        }
        switch transform {
        case .copy:
            guard sources.count == 1, squeezed(first) == squeezed(want) else {
                return .failure(Failure(found: first, detail: "shapes differ"))
            }
            return .success(false)
        case .unpermuteRotary(let d):
            guard sources.count == 1, first == want else { return .failure(Failure(found: first, detail: "shapes differ")) }
            guard d > 0, d % 2 == 0, (want.first ?? 0) % d == 0 else {
                return .failure(Failure(found: first, detail: "\(want.first ?? 0) rows are not whole heads of head_dim \(d)"))
            }
            return .success(false)
        case .transpose:
            guard first.count == 2, Array(first.reversed()) == want else {
                return .failure(Failure(found: first, detail: "transposed shape \(Array(first.reversed())) differs"))
            }
            return .success(false)
        case .split(let axis, let parts, _):
            var expected = want
            guard axis < want.count else { return .failure(Failure(found: first, detail: "split axis \(axis) is outside the parameter's rank")) }
            expected[axis] *= parts
            guard first == expected else {
                return .failure(Failure(found: first, detail: "a \(parts)-way split along axis \(axis) needs \(expected)"))
            }
            return .success(false)
        case .stack:
            guard sources.allSatisfy({ $0.shape == sources[0].shape }) else {
                return .failure(Failure(found: first, detail: "stacked sources differ in shape"))
            }
            let stacked = [sources.count] + first
            guard stacked == want else {
                return .failure(Failure(found: stacked, detail: "\(sources.count) stacked sources of \(first)"))
            }
            return .success(false)
        case .dropLeadingRow:
            let s = squeezed(first)
            let t = squeezed(want)
            if s == t { return .success(false) }
            if s.count == 2, t.count == 2, s[0] == t[0] + 1, s[1] == t[1] { return .success(true) }
            return .failure(Failure(found: first, detail: "neither \(t) nor one leading row more"))
        }
    }

    static func squeezed(_ dims: [Int]) -> [Int] { dims.filter { $0 != 1 } }
}

/// Which configuration fields decide a parameter's shape, for messages about mismatches.
enum ConfigFields {
    static func deciding(_ spec: ParameterSpec, _ config: MM1Config) -> [String] {
        let n = spec.name
        func has(_ s: String) -> Bool { n.contains(s) }
        switch spec.component {
        case .language:
            if has("embed_tokens") || has("lm_head") { return ["language.vocab_size", "language.hidden_size"] }
            if has("attention.q") || has("attention.o") { return ["language.heads", "language.head_dim", "language.hidden_size"] }
            if has("attention.k") || has("attention.v") { return ["language.kv_heads", "language.head_dim", "language.hidden_size"] }
            if has("moe.router") { return ["language.moe.experts", "language.hidden_size"] }
            if has("moe.experts") { return ["language.moe.experts", "language.moe.expert_intermediate_size", "language.hidden_size"] }
            if has(".mlp.") { return ["language.intermediate_size", "language.hidden_size"] }
            return ["language.hidden_size"]
        case .vision:
            if has("patch_embed.weight") { return ["vision.hidden_size", "vision.patch_size"] }
            if has("position_embedding") { return ["vision.image_size", "vision.patch_size", "vision.hidden_size"] }
            if has(".mlp.") { return ["vision.intermediate_size", "vision.hidden_size"] }
            return ["vision.hidden_size"]
        case .connector:
            if has("position_embedding") { return ["vision.image_size", "vision.patch_size", "vision.hidden_size"] }
            if has("queries") { return ["connector.image_tokens", "connector.hidden_size"] }
            return ["connector.hidden_size", "vision.hidden_size", "language.hidden_size"]
        }
    }
}
