import MM1Tensor

/// Produces a parameter's bytes, in the output dtype, from its source views and transform. Works
/// on byte ranges of the (possibly unaligned) mapped sources, converting range by range, so the only
/// memory used is the destination (and, for a transpose, one temporary of the source's size).
package enum Materializer {
    /// Fills `destination` with `assignment.spec`'s elements as `dtype`.
    package static func fill(
        _ assignment: MappingPlan.Assignment, views: [TensorView], as dtype: DType, into destination: UnsafeMutableRawBufferPointer
    ) throws {
        guard let outWidth = dtype.byteWidth, destination.count == assignment.spec.shape.elementCount * outWidth else {
            throw ConversionError.countMismatch(source: assignment.spec.shape.elementCount, destination: destination.count / max(1, dtype.byteWidth ?? 1))
        }
        if assignment.transform == .transpose {
            return try transpose(views[0], as: dtype, into: destination)
        }
        var written = 0
        for (index, range) in pieces(assignment, views: views) {
            let view = views[index]
            let inWidth = view.dtype.byteWidth!
            // In slices of at most 16 MiB of source, each released once converted, so resident
            // memory holds the destination and one slice rather than the whole source as well.
            let sliceBytes = (16 << 20) / inWidth * inWidth
            var start = range.lowerBound
            while start < range.upperBound {
                let end = min(range.upperBound, start + sliceBytes)
                let count = (end - start) / inWidth
                let out = UnsafeMutableRawBufferPointer(rebasing: destination[written..<(written + count * outWidth)])
                view.populatePages(in: start..<end)
                try view.withUnsafeBytes { bytes in
                    try DTypeConversion.convert(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), from: view.dtype, to: dtype, into: out)
                }
                view.releasePages(in: start..<end)
                written += count * outWidth
                start = end
            }
        }
        precondition(written == destination.count, "pieces of \(assignment.spec.name) cover \(written) of \(destination.count) bytes")
    }

    /// The source byte ranges that, concatenated in order, are the parameter's elements.
    static func pieces(_ assignment: MappingPlan.Assignment, views: [TensorView]) -> [(Int, Range<Int>)] {
        let first = views[0]
        let width = first.dtype.byteWidth!
        switch assignment.transform {
        case .copy, .transpose:
            return [(0, 0..<first.bytes.count)]
        case .stack:
            return views.indices.map { ($0, 0..<views[$0].bytes.count) }
        case .dropLeadingRow:
            // The parameter's bytes are the source's last ones: the whole source, or all but its first row.
            let wanted = assignment.spec.shape.elementCount * width
            return [(0, (first.bytes.count - wanted)..<first.bytes.count)]
        case .unpermuteRotary(let d):
            // One piece per row, from its GGUF row.
            let dims = first.shape.dimensions
            let rowBytes = dims.dropFirst().reduce(1, *) * width
            return (0..<(dims.first ?? 0)).map { r in
                let source = MappingTransform.ggufRow(ofCanonicalRow: r, headDim: d)
                return (0, (source * rowBytes)..<((source + 1) * rowBytes))
            }
        case .split(let axis, let parts, let index):
            let dims = first.shape.dimensions
            let outer = dims[..<axis].reduce(1, *)
            let inner = dims[(axis + 1)...].reduce(1, *) * width
            let stride = dims[axis] * inner
            let chunk = dims[axis] / parts * inner
            return (0..<outer).map { o in (0, (o * stride + index * chunk)..<(o * stride + (index + 1) * chunk)) }
        }
    }

    /// A 2-D transpose: bytes are transposed element by element (any element width), then converted.
    static func transpose(_ view: TensorView, as dtype: DType, into destination: UnsafeMutableRawBufferPointer) throws {
        let dims = view.shape.dimensions
        let (rows, cols) = (dims[0], dims[1])
        let width = view.dtype.byteWidth!
        let temporary = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, view.bytes.count), alignment: 64)
        defer { temporary.deallocate() }
        view.withUnsafeBytes { src in
            let block = 32
            for r0 in stride(from: 0, to: rows, by: block) {
                for c0 in stride(from: 0, to: cols, by: block) {
                    for r in r0..<min(rows, r0 + block) {
                        for c in c0..<min(cols, c0 + block) {
                            (temporary.baseAddress! + (c * rows + r) * width).copyMemory(from: src.baseAddress! + (r * cols + c) * width, byteCount: width)
                        }
                    }
                }
            }
        }
        try DTypeConversion.convert(UnsafeRawBufferPointer(rebasing: temporary[0..<view.bytes.count]), from: view.dtype, to: dtype, into: destination)
    }
}
