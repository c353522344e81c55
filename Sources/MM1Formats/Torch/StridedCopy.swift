/// Copies a strided tensor out of its storage into contiguous row-major bytes, swapping byte order
/// when asked: how saved views (`w.t()`, slices) and big-endian archives are made readable.
enum StridedCopy {
    /// Fills `out` (exactly `record.byteCount` bytes) with the tensor's elements in row-major order.
    /// The record's bounds were checked against `storage` when the file was opened.
    /// - Parameter swapUnit: reverse the bytes of each `swapUnit`-byte group (1: no swap; the element
    ///   size for big-endian data; half of it for complex numbers, whose parts are swapped separately).
    static func gather(_ record: TorchTensorRecord, from storage: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer, swapUnit: Int) {
        let width = record.dtype.byteWidth ?? 1
        let dims = record.shape.dimensions, strides = record.strides
        guard record.shape.elementCount > 0, let src = storage.baseAddress, let dst = out.baseAddress else { return }
        let rank = dims.count
        let inner = rank == 0 ? 1 : dims[rank - 1]
        let innerStride = rank == 0 ? 0 : strides[rank - 1]
        var counter = [Int](repeating: 0, count: max(0, rank - 1))
        var written = 0
        while written < out.count {
            var element = record.storageOffset
            for i in counter.indices { element += counter[i] * strides[i] }
            if innerStride == 1 {
                (dst + written).copyMemory(from: src + element * width, byteCount: inner * width)
            } else {
                for j in 0..<inner { (dst + written + j * width).copyMemory(from: src + (element + j * innerStride) * width, byteCount: width) }
            }
            written += inner * width
            // Next row: the odometer over the outer dimensions.
            var d = counter.count - 1
            while d >= 0 {
                counter[d] += 1
                if counter[d] < dims[d] { break }
                counter[d] = 0
                d -= 1
            }
        }
        if swapUnit > 1 { swapBytes(out, unit: swapUnit) }
    }

    /// Reverses the bytes of every `unit`-byte group of `bytes`.
    static func swapBytes(_ bytes: UnsafeMutableRawBufferPointer, unit: Int) {
        var i = 0
        while i + unit <= bytes.count {
            var a = i, b = i + unit - 1
            while a < b {
                bytes.swapAt(a, b)
                a += 1
                b -= 1
            }
            i += unit
        }
    }
}
