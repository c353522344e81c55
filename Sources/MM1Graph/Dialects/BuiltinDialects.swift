/// The naming dialects mm1conv knows, as data for the mapping engine. Each table lists the
/// framework's names (with every prefix a real checkpoint puts before them) and the canonical
/// parameter they become; `Tests/Fixtures/dialects` holds a checkpoint of each, written by the framework itself.
public enum BuiltinDialects {
    /// Every built-in dialect, in the order rules are tried.
    public static let all: [Dialect] = [mm1, hfCLIP, openCLIP, aim, honeybeeCAbstractor, llavaProjector, hfLlama, hfMixtral, hfMixtralV5, mlxMixtral, llamaCpp]

    /// The dialect called `name`, or `nil`.
    public static func named(_ name: String) -> Dialect? { all.first { $0.name == name } }

    /// The dialects of a comma-separated list (`--dialect a,b`), in order; the first unknown name, if any.
    public static func list(_ text: String) -> Result<[Dialect], UnknownDialect> {
        var result: [Dialect] = []
        for name in text.split(separator: ",").map({ String($0).trimmingCharacters(in: .whitespaces) }) {
            guard let d = named(name) else { return .failure(UnknownDialect(name: name)) }
            result.append(d)
        }
        return .success(result)
    }

    /// A dialect name that is not built in.
    public struct UnknownDialect: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "unknown dialect \"\(name)\" (known: \(BuiltinDialects.all.map(\.name).joined(separator: ", ")))" }
    }

    /// `^(?:p1|p2|…)rest$`: the same names under any of the given prefixes.
    static func under(_ prefixes: [String], _ rest: String) -> String {
        "^(?:" + prefixes.joined(separator: "|") + ")" + rest + "$"
    }

    /// mm1conv's own canonical names (an MM1 package, or a checkpoint already in canonical form).
    public static let mm1 = Dialect(name: "mm1", rules: [MappingRule(#"^((?:vision|connector|language)\..+)$"#, "$1")])

    // MARK: Vision encoders

    static let clipPrefixes = [#"vision_model\.vision_model\."#, #"vision_tower\.vision_model\."#, #"model\.vision_tower\.vision_model\."#,
                               #"model\.vision_tower\."#, #"vision_tower\."#, #"vision_model\."#, ""]

    /// transformers `CLIPVisionModel` (v4 `vision_model.` and v5 flat names), inside LLaVA (v4 and v5) and Honeybee.
    public static let hfCLIP = Dialect(
        name: "hf-clip",
        rules: [
            MappingRule(under(clipPrefixes, #"embeddings\.class_embedding"#), "vision.class_token"),
            MappingRule(under(clipPrefixes, #"embeddings\.patch_embedding\.(weight|bias)"#), "vision.patch_embed.$1"),
            MappingRule(under(clipPrefixes, #"embeddings\.position_embedding\.weight"#), "vision.position_embedding"),
            MappingRule(under(clipPrefixes, #"pre_layrnorm\.(weight|bias)"#), "vision.pre_norm.$1"),
            MappingRule(under(clipPrefixes, #"encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)"#), "vision.layers.$1.attention.$2.$3"),
            MappingRule(under(clipPrefixes, #"encoder\.layers\.(\d+)\.self_attn\.out_proj\.(weight|bias)"#), "vision.layers.$1.attention.o.$2"),
            MappingRule(under(clipPrefixes, #"encoder\.layers\.(\d+)\.layer_norm([12])\.(weight|bias)"#), "vision.layers.$1.norm$2.$3"),
            MappingRule(under(clipPrefixes, #"encoder\.layers\.(\d+)\.mlp\.(fc[12])\.(weight|bias)"#), "vision.layers.$1.mlp.$2.$3"),
            MappingRule(under(clipPrefixes, #"post_layernorm\.(weight|bias)"#), "vision.post_norm.$1"),
        ],
        ignore: [
            .init(under(clipPrefixes, #"embeddings\.position_ids"#), "a constant index buffer, not a weight"),
            .init(#"^(?:text_model\.|text_projection\.|visual_projection\.|logit_scale$)"#, "CLIP's text tower and contrastive head are not part of MM1"),
        ])

    /// open_clip `VisionTransformer` (`visual.`): fused `in_proj_weight` split into q, k, v.
    public static let openCLIP = Dialect(
        name: "open-clip",
        rules: [
            MappingRule(#"^visual\.class_embedding$"#, "vision.class_token"),
            MappingRule(#"^visual\.conv1\.weight$"#, "vision.patch_embed.weight"),
            MappingRule(#"^visual\.positional_embedding$"#, "vision.position_embedding"),
            MappingRule(#"^visual\.ln_pre\.(weight|bias)$"#, "vision.pre_norm.$1"),
            MappingRule(#"^visual\.transformer\.resblocks\.(\d+)\.ln_([12])\.(weight|bias)$"#, "vision.layers.$1.norm$2.$3"),
            MappingRule(#"^visual\.transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)$"#,
                        (0..<3).map { i in .init("vision.layers.$1.attention.\(["q", "k", "v"][i]).$2", .split(axis: 0, parts: 3, index: i)) }),
            MappingRule(#"^visual\.transformer\.resblocks\.(\d+)\.attn\.out_proj\.(weight|bias)$"#, "vision.layers.$1.attention.o.$2"),
            MappingRule(#"^visual\.transformer\.resblocks\.(\d+)\.mlp\.c_fc\.(weight|bias)$"#, "vision.layers.$1.mlp.fc1.$2"),
            MappingRule(#"^visual\.transformer\.resblocks\.(\d+)\.mlp\.c_proj\.(weight|bias)$"#, "vision.layers.$1.mlp.fc2.$2"),
            MappingRule(#"^visual\.ln_post\.(weight|bias)$"#, "vision.post_norm.$1"),
        ],
        ignore: [.init(#"^visual\.proj$"#, "open_clip's contrastive projection is not on the connector's path"),
                 .init(#"^(?:transformer\.|token_embedding\.|positional_embedding$|ln_final\.|text_projection$|logit_scale$)"#, "CLIP's text tower")])

    /// apple/ml-aim v1 (`preprocessor.*`, `trunk.*`): fused qkv without bias.
    public static let aim = Dialect(
        name: "aim",
        rules: [
            MappingRule(#"^preprocessor\.patchifier\.proj\.(weight|bias)$"#, "vision.patch_embed.$1"),
            MappingRule(#"^preprocessor\.patchifier\.norm\.(weight|bias)$"#, "vision.patch_norm.$1"),
            MappingRule(#"^trunk\.blocks\.(\d+)\.attn\.qkv\.weight$"#,
                        (0..<3).map { i in .init("vision.layers.$1.attention.\(["q", "k", "v"][i]).weight", .split(axis: 0, parts: 3, index: i)) }),
            MappingRule(#"^trunk\.blocks\.(\d+)\.attn\.proj\.weight$"#, "vision.layers.$1.attention.o.weight"),
            MappingRule(#"^trunk\.blocks\.(\d+)\.norm_([12])\.(weight|bias)$"#, "vision.layers.$1.norm$2.$3"),
            MappingRule(#"^trunk\.blocks\.(\d+)\.mlp\.(fc[12])\.weight$"#, "vision.layers.$1.mlp.$2.weight"),
            MappingRule(#"^trunk\.post_trunk_norm\.(weight|bias)$"#, "vision.post_norm.$1"),
        ],
        ignore: [.init(#"^head\."#, "AIM's classification probe is not part of MM1")])

    // MARK: Connectors

    static let abstractorPrefixes = [#"abstractor\."#, #"model\.multi_modal_projector\."#, #"multi_modal_projector\."#]

    /// Honeybee's C-Abstractor (timm RegNet names: `net.0.b1.conv1.conv`, LayerNorm2d called `bn`;
    /// `net.1` is the pooler; readout Linear layers at even Sequential indices).
    public static let honeybeeCAbstractor: Dialect = {
        var rules = [MappingRule(under(abstractorPrefixes, #"pos_emb"#), "connector.position_embedding", .dropLeadingRow)]
        for (net, stage) in [(0, 0), (2, 1)] {
            let block = #"net\.\#(net)\.b(\d+)\."#
            let target = "connector.stages.\(stage).blocks.${1-1}."
            for (source, canonical) in [("conv1.conv", "conv1"), ("conv2.conv", "conv2"), ("conv3.conv", "conv3"), ("downsample.conv", "downsample.conv")] {
                rules.append(MappingRule(under(abstractorPrefixes, block + source.replacingDots() + #"\.weight"#), target + canonical + ".weight"))
            }
            for (source, canonical) in [("conv1.bn", "norm1"), ("conv2.bn", "norm2"), ("conv3.bn", "norm3"), ("downsample.bn", "downsample.norm"),
                                        ("se.fc1", "se.fc1"), ("se.fc2", "se.fc2")] {
                rules.append(MappingRule(under(abstractorPrefixes, block + source.replacingDots() + #"\.(weight|bias)"#), target + canonical + ".$2"))
            }
        }
        for k in 0..<8 {
            rules.append(MappingRule(under(abstractorPrefixes, #"readout\.\#(2 * k)\.(weight|bias)"#), "connector.readout.\(k).$1"))
        }
        return Dialect(name: "honeybee-c-abstractor", rules: rules)
    }()

    /// LLaVA's two-layer projector (`multi_modal_projector.linear_1/2`, v4 and v5 prefixes).
    public static let llavaProjector = Dialect(
        name: "llava-projector",
        rules: [MappingRule(#"^(?:model\.)?multi_modal_projector\.linear_([12])\.(weight|bias)$"#, "connector.fc$1.$2")])

    // MARK: Decoders

    static let llamaPrefixes = [#"language_model\.model\."#, #"model\.language_model\."#, #"model\."#]

    /// transformers `LlamaForCausalLM`, alone or inside LLaVA (v4 and v5) and Honeybee.
    public static let hfLlama = Dialect(
        name: "hf-llama",
        rules: [
            MappingRule(under(llamaPrefixes, #"embed_tokens\.weight"#), "language.embed_tokens.weight"),
            MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.input_layernorm\.weight"#), "language.layers.$1.attention_norm.weight"),
            MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.self_attn\.([qkvo])_proj\.(weight|bias)"#), "language.layers.$1.attention.$2.$3"),
            MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.post_attention_layernorm\.weight"#), "language.layers.$1.mlp_norm.weight"),
            MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.mlp\.(gate|up|down)_proj\.weight"#), "language.layers.$1.mlp.$2.weight"),
            MappingRule(under(llamaPrefixes, #"norm\.weight"#), "language.norm.weight"),
            MappingRule(#"^(?:language_model\.)?lm_head\.weight$"#, "language.lm_head.weight"),
        ],
        ignore: [.init(under(llamaPrefixes, #"layers\.(\d+)\.self_attn\.rotary_emb\.inv_freq"#), "a RoPE buffer computed from rope_theta")])

    /// llama.cpp's GGUF names for the `llama` architecture (convert_hf_to_gguf.py): `token_embd`,
    /// `blk.N.attn_q` (rows permuted for ggml's rotary, undone here), `ffn_*_exps` stacked experts,
    /// `output_norm`, `output`.
    public static let llamaCpp = Dialect(
        name: "llama-cpp",
        rules: [
            MappingRule(#"^token_embd\.weight$"#, "language.embed_tokens.weight"),
            MappingRule(#"^blk\.(\d+)\.attn_norm\.weight$"#, "language.layers.$1.attention_norm.weight"),
            MappingRule(#"^blk\.(\d+)\.attn_([qk])\.(weight|bias)$"#, [.init("language.layers.$1.attention.$2.$3", .unpermuteRotary(headDim: 0))]),
            MappingRule(#"^blk\.(\d+)\.attn_v\.(weight|bias)$"#, "language.layers.$1.attention.v.$2"),
            MappingRule(#"^blk\.(\d+)\.attn_output\.(weight|bias)$"#, "language.layers.$1.attention.o.$2"),
            MappingRule(#"^blk\.(\d+)\.ffn_norm\.weight$"#, "language.layers.$1.mlp_norm.weight"),
            MappingRule(#"^blk\.(\d+)\.ffn_(gate|up|down)\.weight$"#, "language.layers.$1.mlp.$2.weight"),
            MappingRule(#"^blk\.(\d+)\.ffn_gate_inp\.weight$"#, "language.layers.$1.moe.router.weight"),
            MappingRule(#"^blk\.(\d+)\.ffn_(gate|up|down)_exps\.weight$"#, "language.layers.$1.moe.experts.$2"),
            MappingRule(#"^output_norm\.weight$"#, "language.norm.weight"),
            MappingRule(#"^output\.weight$"#, "language.lm_head.weight"),
        ])

    /// HF Mixtral's on-disk layout (transformers v4, and v5 `save_pretrained`): one tensor per expert.
    public static let hfMixtral = Dialect(
        name: "hf-mixtral",
        rules: [
            MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.block_sparse_moe\.gate\.weight"#), "language.layers.$1.moe.router.weight"),
            MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.block_sparse_moe\.experts\.(\d+)\.w1\.weight"#), "language.layers.$1.moe.experts.gate", .stack, stackIndex: 2),
            MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.block_sparse_moe\.experts\.(\d+)\.w3\.weight"#), "language.layers.$1.moe.experts.up", .stack, stackIndex: 2),
            MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.block_sparse_moe\.experts\.(\d+)\.w2\.weight"#), "language.layers.$1.moe.experts.down", .stack, stackIndex: 2),
        ])

    /// transformers v5's in-memory Mixtral layout: experts fused, `gate_up_proj` `[E, 2I, H]` = gate then up.
    public static let hfMixtralV5 = Dialect(
        name: "hf-mixtral-v5",
        rules: [
            MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.mlp\.gate\.weight"#), "language.layers.$1.moe.router.weight"),
            MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.mlp\.experts\.gate_up_proj"#),
                        [.init("language.layers.$1.moe.experts.gate", .split(axis: 1, parts: 2, index: 0)),
                         .init("language.layers.$1.moe.experts.up", .split(axis: 1, parts: 2, index: 1))]),
            MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.mlp\.experts\.down_proj"#), "language.layers.$1.moe.experts.down"),
        ])

    /// mlx-lm's Mixtral layout: experts stacked in `switch_mlp`.
    public static let mlxMixtral = Dialect(
        name: "mlx-mixtral",
        rules: [MappingRule(under(llamaPrefixes, #"layers\.(\d+)\.block_sparse_moe\.switch_mlp\.(gate|up|down)_proj\.weight"#),
                            "language.layers.$1.moe.experts.$2")])
}

extension String {
    /// The string with `.` escaped for a regular expression.
    func replacingDots() -> String { split(separator: ".", omittingEmptySubsequences: false).joined(separator: #"\."#) }
}
