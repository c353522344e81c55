import MM1Graph

/// Convolutions and pooling on images held channels-last: a ``Matrix`` of `height·width` rows (pixels,
/// row-major) by `channels` columns. In this layout a 1×1 convolution is a linear layer and
/// LayerNorm2d is a row LayerNorm; only the patch embedding and the 3×3 depthwise convolution need
/// their own loops.
enum ImageOps {
    /// The patch embedding's im2col: a `[channels, size, size]` image (CHW) cut into non-overlapping
    /// `patch × patch` tiles, row-major over the grid; each row holds one tile in the `(c, ky, kx)`
    /// order of a `[out, c, p, p]` convolution weight, so the strided convolution becomes one GEMM.
    static func patches(_ image: UnsafeBufferPointer<Float>, channels: Int, size: Int, patch p: Int) -> Matrix {
        let g = size / p
        var out = Matrix(rows: g * g, cols: channels * p * p)
        out.values.withUnsafeMutableBufferPointer { dst in
            for gy in 0..<g {
                for gx in 0..<g {
                    var o = (gy * g + gx) * out.cols
                    for c in 0..<channels {
                        for ky in 0..<p {
                            let src = c * size * size + (gy * p + ky) * size + gx * p
                            for kx in 0..<p { dst[o] = image[src + kx]; o += 1 }
                        }
                    }
                }
            }
        }
        return out
    }

    /// A 3×3 depthwise convolution (`groups == channels`, padding 1, stride 1, no bias) over a
    /// `side × side` channels-last image; `weight` is `[channels, 1, 3, 3]`.
    static func depthwise3x3(_ x: Matrix, side: Int, weight: Weight) -> Matrix {
        let channels = x.cols
        precondition(x.rows == side * side && weight.count == channels * 9)
        var out = Matrix(rows: x.rows, cols: channels)
        x.values.withUnsafeBufferPointer { srcBuffer in
            out.values.withUnsafeMutableBufferPointer { dstBuffer in
                let (src, dst) = (srcBuffer.baseAddress!, dstBuffer.baseAddress!)
                Parallel.forEachRange(side, costPerItem: side * channels * 9) { rows in
                    for y in rows {
                        for xx in 0..<side {
                            let o = (y * side + xx) * channels
                            for ky in 0..<3 where (0..<side).contains(y + ky - 1) {
                                for kx in 0..<3 where (0..<side).contains(xx + kx - 1) {
                                    let s = ((y + ky - 1) * side + xx + kx - 1) * channels
                                    let tap = ky * 3 + kx
                                    for c in 0..<channels { dst[o + c] += src[s + c] * weight[c * 9 + tap] }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The windows `[start, end)` along one axis when pooling `input` positions to `output`:
    /// PyTorch's `AdaptiveAvgPool2d` (`floor(i·G/q)` to `ceil((i+1)·G/q)`, possibly overlapping) or the
    /// stride/kernel pooler (`stride = G / q`, `kernel = G − (q − 1)·stride`).
    static func windows(from input: Int, to output: Int, _ pooling: ConnectorConfig.Pooling) -> [Range<Int>] {
        (0..<output).map { i in
            switch pooling {
            case .torchAdaptive:
                return (i * input / output)..<(((i + 1) * input + output - 1) / output)
            case .strideKernel:
                let stride = input / output, kernel = input - (output - 1) * stride
                return (i * stride)..<(i * stride + kernel)
            }
        }
    }

    /// Average pooling of a `side × side` channels-last image to `output × output`.
    static func averagePool(_ x: Matrix, side: Int, to output: Int, _ pooling: ConnectorConfig.Pooling) -> Matrix {
        precondition(x.rows == side * side)
        let w = windows(from: side, to: output, pooling), channels = x.cols
        var out = Matrix(rows: output * output, cols: channels)
        var sums = [Float](repeating: 0, count: channels)
        x.values.withUnsafeBufferPointer { src in
            out.values.withUnsafeMutableBufferPointer { dst in
                for oy in 0..<output {
                    for ox in 0..<output {
                        for c in 0..<channels { sums[c] = 0 }
                        for sy in w[oy] { for sx in w[ox] { for c in 0..<channels { sums[c] += src[(sy * side + sx) * channels + c] } } }
                        let n = Float(w[oy].count * w[ox].count)
                        for c in 0..<channels { dst[(oy * output + ox) * channels + c] = sums[c] / n }
                    }
                }
            }
        }
        return out
    }

    /// The mean of every column (global average pooling of a channels-last image), as a `1 × cols` matrix.
    static func columnMeans(_ x: Matrix) -> Matrix {
        var sums = [Double](repeating: 0, count: x.cols)
        x.values.withUnsafeBufferPointer { p in
            for r in 0..<x.rows { for c in 0..<x.cols { sums[c] += Double(p[r * x.cols + c]) } }
        }
        return Matrix(rows: 1, cols: x.cols, values: sums.map { Float($0 / Double(max(x.rows, 1))) })
    }

    /// Multiplies column `c` of every row by `scale[c]`.
    static func scaleColumns(_ x: inout Matrix, by scale: Matrix) {
        precondition(scale.values.count == x.cols)
        let cols = x.cols
        x.values.withUnsafeMutableBufferPointer { p in
            for r in 0..<x.rows { for c in 0..<cols { p[r * cols + c] *= scale.values[c] } }
        }
    }
}
