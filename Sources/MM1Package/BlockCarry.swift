import MM1Formats
import MM1Graph
import MM1Quantization
import MM1Tensor

/// Quantizing a GGUF checkpoint into its own format: a parameter stored as Q8_0 (or Q4_0) blocks whose
/// target is int8 (int4) symmetric, groups of 32, f16 scales takes the blocks' scales and codes as
/// they are (nibbles reordered, rows un-permuted for llama.cpp's rotary layout) instead of
/// requantizing the dequantized values, which would not always give the same blocks back.
enum BlockCarry {
    /// Codes and scales of `assignment` in `layout`, from its source's blocks; nil when they do not fit.
    static func parts(_ assignment: MappingPlan.Assignment, source: any TensorSource, layout: QuantizedLayout, scaleDType: DType) -> (codes: [UInt8], scales: [UInt8])? {
        let f = layout.format
        guard assignment.sources.count == 1, f.mode == .symmetric, f.groupSize == 32, scaleDType == .f16,
              let blocks = (source as? any GGMLBlockSource)?.ggmlBlocks(named: assignment.sources[0].name),
              (f.bits == .int8 && blocks.type.id == GGMLType.q8_0.id) || (f.bits == .int4 && blocks.type.id == GGMLType.q4_0.id),
              blocks.shape.reduce(1, *) == layout.rows * layout.cols, blocks.shape.last == layout.cols else { return nil }
        let headDim: Int
        switch assignment.transform {
        case .copy: headDim = 0
        case .unpermuteRotary(let d) where d > 0 && layout.rows % d == 0: headDim = d
        default: return nil
        }
        let blockBytes = f.bits == .int8 ? 34 : 18, perRow = layout.cols / 32
        var codes = [UInt8](repeating: 0, count: layout.rows * layout.codeBytesPerRow)
        var scales = [UInt8](repeating: 0, count: layout.rows * perRow * 2)
        blocks.withUnsafeBytes { stored in
            for r in 0..<layout.rows {
                let from = headDim > 0 ? MappingTransform.ggufRow(ofCanonicalRow: r, headDim: headDim) : r
                for b in 0..<perRow {
                    let o = (from * perRow + b) * blockBytes, g = r * perRow + b
                    scales[2 * g] = stored[o]
                    scales[2 * g + 1] = stored[o + 1]
                    if f.bits == .int8 {
                        for k in 0..<32 { codes[32 * g + k] = stored[o + 2 + k] }
                    } else {
                        codes.withUnsafeMutableBytes { c in
                            GGMLNibbles.pairs(fromGGML: UnsafeRawBufferPointer(rebasing: stored[(o + 2)..<(o + 18)]),
                                              into: UnsafeMutableRawBufferPointer(rebasing: c[(16 * g)..<(16 * g + 16)]))
                        }
                    }
                }
            }
        }
        return (codes, scales)
    }
}
