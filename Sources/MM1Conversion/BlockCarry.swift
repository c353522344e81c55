import MM1Formats
import MM1Graph
import MM1Quantization
import MM1Tensor
import MM1PackageFormat

/// Quantizing a GGUF checkpoint into its own format: a parameter stored as Q8_0, Q4_0 or IQ4_NL blocks
/// whose target is int8 symmetric, int4 symmetric or int4 nonlinear, groups of 32, f16 scales takes the
/// blocks' scales and codes as they are (nibbles reordered, rows un-permuted for llama.cpp's rotary layout) instead of
/// requantizing the dequantized values, which would not always give the same blocks back.
enum BlockCarry {
    /// Codes and scales of `assignment` in `layout`, from its source's blocks; nil when they do not fit.
    static func parts(_ assignment: MappingPlan.Assignment, source: any TensorSource, layout: QuantizedLayout, scaleDType: DType) -> (codes: [UInt8], scales: [UInt8])? {
        let f = layout.format
        guard assignment.sources.count == 1, let type = GGUFExport.ggmlType(of: f, scales: scaleDType),
              let blocks = (source as? any GGMLBlockSource)?.ggmlBlocks(named: assignment.sources[0].name), blocks.type == type,
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
