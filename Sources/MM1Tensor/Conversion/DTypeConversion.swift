import CKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// Why elements could not be converted.
public enum ConversionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The dtype has no conversion (sub-byte and exotic float types, complex).
    case unsupported(DType)
    /// Source and destination hold different numbers of elements.
    case countMismatch(source: Int, destination: Int)
    /// A value cannot be stored in an integer dtype (NaN, or out of range).
    case notRepresentable(DType, index: Int, value: Float)

    public var description: String {
        switch self {
        case .unsupported(let t): "conversion of \(t) is not supported"
        case .countMismatch(let s, let d): "element count mismatch: \(s) source elements for \(d) destination elements"
        case .notRepresentable(let t, let i, let v): "element \(i) (\(v)) cannot be stored as \(t)"
        }
    }
}

/// Bulk conversions between stored dtypes and `Float`, vectorised and split across cores for large
/// tensors.
///
/// Sources are raw bytes at any alignment (MLX writes unaligned tensors); every load is unaligned.
/// Floating-point rounding follows PyTorch (see ``HalfPrecision`` and ``Float8``). Integers convert
/// to `Float` with round-to-nearest-even as C's cast does; `Float` converts to integers by truncation
/// toward zero, and NaN or out-of-range values are errors rather than undefined behaviour.
public enum DTypeConversion {
    /// Elements below which work stays on one thread.
    public static let parallelThreshold = 1 << 20

    /// Converts `source`, holding `destination.count` elements of `dtype`, to `Float`.
    public static func toFloat32(
        _ source: UnsafeRawBufferPointer, dtype: DType, into destination: UnsafeMutableBufferPointer<Float>
    ) throws(ConversionError) {
        guard dtype.isConvertible, let width = dtype.byteWidth else { throw .unsupported(dtype) }
        guard source.count == destination.count * width else {
            throw .countMismatch(source: source.count / width, destination: destination.count)
        }
        guard let dst = destination.baseAddress, let src = source.baseAddress else { return }
        parallelChunks(destination.count) { range in
            decode(src + range.lowerBound * width, dtype, dst + range.lowerBound, range.count)
        }
    }

    /// Converts `source` to `dtype`, writing `source.count` elements into `destination`.
    public static func fromFloat32(
        _ source: UnsafeBufferPointer<Float>, to dtype: DType, into destination: UnsafeMutableRawBufferPointer
    ) throws(ConversionError) {
        guard dtype.isConvertible, let width = dtype.byteWidth else { throw .unsupported(dtype) }
        guard destination.count == source.count * width else {
            throw .countMismatch(source: source.count, destination: destination.count / width)
        }
        guard let dst = destination.baseAddress, let src = source.baseAddress else { return }
        if !dtype.isFloatingPoint, dtype != .bool {
            for (i, v) in source.enumerated() where !fitsInteger(v, dtype) {
                throw .notRepresentable(dtype, index: i, value: v)
            }
        }
        parallelChunks(source.count) { range in
            encode(src + range.lowerBound, dtype, dst + range.lowerBound * width, range.count)
        }
    }

    /// Converts `count` elements of `from` at `source` into `to` at `destination`, through `Float`
    /// in cache-sized tiles (or by copying when the dtypes are equal).
    public static func convert(
        _ source: UnsafeRawBufferPointer, from: DType, to: DType, into destination: UnsafeMutableRawBufferPointer
    ) throws(ConversionError) {
        if from == to {
            guard source.count == destination.count else {
                throw .countMismatch(source: source.count, destination: destination.count)
            }
            destination.copyMemory(from: source)
            return
        }
        guard from.isConvertible, let inWidth = from.byteWidth else { throw .unsupported(from) }
        guard to.isConvertible, let outWidth = to.byteWidth else { throw .unsupported(to) }
        let count = source.count / inWidth
        guard source.count % inWidth == 0, destination.count == count * outWidth else {
            throw .countMismatch(source: count, destination: destination.count / outWidth)
        }
        // Each core converts its own part, through f32 tiles small enough to stay in cache; the
        // failure at the lowest index is the one reported.
        let firstFailure = Mutex<ConversionError?>(nil)
        let src = UncheckedSendable(source), dst = UncheckedSendable(destination)
        parallelChunks(count) { range in
            let tile = 16_384
            withUnsafeTemporaryAllocation(of: Float.self, capacity: tile) { scratch in
                var start = range.lowerBound
                while start < range.upperBound {
                    let n = min(tile, range.upperBound - start)
                    let part = UnsafeMutableBufferPointer(rebasing: scratch[0..<n])
                    do throws(ConversionError) {
                        try toFloat32(UnsafeRawBufferPointer(rebasing: src.value[(start * inWidth)..<((start + n) * inWidth)]), dtype: from, into: part)
                        try fromFloat32(UnsafeBufferPointer(part), to: to, into: UnsafeMutableRawBufferPointer(rebasing: dst.value[(start * outWidth)..<((start + n) * outWidth)]))
                    } catch {
                        let located = error.offset(by: start)
                        firstFailure.withLock { current in
                            if current == nil || located.index < current!.index { current = located }
                        }
                        return
                    }
                    start += n
                }
            }
        }
        let error = firstFailure.withLock { $0 }
        if let error { throw error }
    }

    /// Whether f16 conversions may use the CPU's F16C instructions (when it has them). Both paths
    /// give identical bits (the golden tests run with each); `MM1CONV_PORTABLE_HALF=1` turns the
    /// hardware path off.
    public static let useHardwareHalf: Bool = getenv("MM1CONV_PORTABLE_HALF") == nil

    // MARK: - Work splitting

    /// Runs `body` over `0..<count` in one piece, or split across the machine's cores when large.
    static func parallelChunks(_ count: Int, _ body: (Range<Int>) -> Void) {
        let cores = ProcessorCount.active
        guard count >= parallelThreshold, cores > 1 else { return body(0..<count) }
        let pieces = cores * 4
        let step = (count + pieces - 1) / pieces
        withoutActuallyEscaping(body) { body in
            // The chunks write disjoint ranges of one buffer; the closure is only called here.
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: pieces) { i in
                let lower = i * step
                let upper = min(count, lower + step)
                if lower < upper { shared.value(lower..<upper) }
            }
        }
    }

    // MARK: - Kernels (one per dtype family)

    static func decode(_ src: UnsafeRawPointer, _ dtype: DType, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        let out = UnsafeMutableRawPointer(dst)
        switch dtype {
        case .f32: out.copyMemory(from: src, byteCount: n * 4)
        case .bf16:
            let words = UnsafeMutablePointer<UInt32>(OpaquePointer(dst))
            for i in 0..<n { words[i] = UInt32(src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)) &<< 16 }
        case .f16:
            if useHardwareHalf, mm1_f16_to_f32(src, dst, n) == n { return }
            portableHalfToFloat(src, dst, n)
        case .f8E4M3: lookup(Float8.e4m3Table, src, dst, n)
        case .f8E5M2: lookup(Float8.e5m2Table, src, dst, n)
        case .f64: for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
        case .bool: for i in 0..<n { dst[i] = src.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        case .u8: integers(src, UInt8.self, dst, n)
        case .i8: integers(src, Int8.self, dst, n)
        case .u16: integers(src, UInt16.self, dst, n)
        case .i16: integers(src, Int16.self, dst, n)
        case .u32: integers(src, UInt32.self, dst, n)
        case .i32: integers(src, Int32.self, dst, n)
        case .u64: integers(src, UInt64.self, dst, n)
        case .i64: integers(src, Int64.self, dst, n)
        case .f4, .f6E2M3, .f6E3M2, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ, .c64:
            preconditionFailure("unconvertible dtype \(dtype) reached a kernel")
        }
    }

    static func encode(_ src: UnsafePointer<Float>, _ dtype: DType, _ out: UnsafeMutableRawPointer, _ n: Int) {
        switch dtype {
        case .f32: out.copyMemory(from: src, byteCount: n * 4)
        case .bf16:
            simd8(n, src, 4, out) { (f: SIMD8<Float>) in HalfPrecision.bfloat16Bits(fromFloat32: f) }
        case .f16:
            if useHardwareHalf, mm1_f32_to_f16(src, out, n) == n { return }
            portableFloatToHalf(src, out, n)
        case .f8E4M3: for i in 0..<n { out.storeBytes(of: Float8.e4m3Bits(fromFloat32: src[i]), toByteOffset: i, as: UInt8.self) }
        case .f8E5M2: for i in 0..<n { out.storeBytes(of: Float8.e5m2Bits(fromFloat32: src[i]), toByteOffset: i, as: UInt8.self) }
        case .f64: for i in 0..<n { out.storeBytes(of: Double(src[i]), toByteOffset: i * 8, as: Double.self) }
        case .bool: for i in 0..<n { out.storeBytes(of: src[i] != 0 ? 1 : 0, toByteOffset: i, as: UInt8.self) }
        case .u8: truncate(src, UInt8.self, out, n)
        case .i8: truncate(src, Int8.self, out, n)
        case .u16: truncate(src, UInt16.self, out, n)
        case .i16: truncate(src, Int16.self, out, n)
        case .u32: truncate(src, UInt32.self, out, n)
        case .i32: truncate(src, Int32.self, out, n)
        case .u64: truncate(src, UInt64.self, out, n)
        case .i64: truncate(src, Int64.self, out, n)
        case .f4, .f6E2M3, .f6E3M2, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ, .c64:
            preconditionFailure("unconvertible dtype \(dtype) reached a kernel")
        }
    }

    /// f16 → f32 without F16C (the naive twin of the hardware path; tests run both).
    static func portableHalfToFloat(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        let words = UnsafeMutablePointer<UInt32>(OpaquePointer(dst))
        for i in 0..<n { words[i] = HalfPrecision.float32BitsBranchFree(fromFloat16: src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self)) }
    }

    /// f32 → f16 without F16C (the naive twin of the hardware path; tests run both).
    static func portableFloatToHalf(_ src: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer, _ n: Int) {
        simd8(n, src, 4, out) { (f: SIMD8<Float>) in HalfPrecision.float16Bits(fromFloat32: f) }
    }

    /// Applies an 8-lane kernel to `n` elements, then the same kernel to a zero-padded tail.
    @inline(__always)
    static func simd8<In: SIMDScalar, Out: SIMDScalar>(
        _ n: Int, _ src: UnsafeRawPointer, _ inWidth: Int, _ dst: UnsafeMutableRawPointer,
        _ kernel: (SIMD8<In>) -> SIMD8<Out>
    ) {
        let outWidth = MemoryLayout<Out>.stride
        var i = 0
        while i + 8 <= n {
            dst.storeBytes(of: kernel(src.loadUnaligned(fromByteOffset: i * inWidth, as: SIMD8<In>.self)), toByteOffset: i * outWidth, as: SIMD8<Out>.self)
            i += 8
        }
        guard i < n else { return }
        var tail = SIMD8<In>()
        withUnsafeMutableBytes(of: &tail) { $0.copyMemory(from: UnsafeRawBufferPointer(start: src + i * inWidth, count: (n - i) * inWidth)) }
        let result = kernel(tail)
        withUnsafeBytes(of: result) { dst.advanced(by: i * outWidth).copyMemory(from: $0.baseAddress!, byteCount: (n - i) * outWidth) }
    }

    static func lookup(_ table: [UInt32], _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        table.withUnsafeBufferPointer { t in
            for i in 0..<n { dst[i] = Float(bitPattern: t[Int(src.load(fromByteOffset: i, as: UInt8.self))]) }
        }
    }

    static func integers<T: BinaryInteger>(_ src: UnsafeRawPointer, _: T.Type, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        let w = MemoryLayout<T>.size
        for i in 0..<n { dst[i] = Float(src.loadUnaligned(fromByteOffset: i * w, as: T.self)) }
    }

    static func truncate<T: FixedWidthInteger>(_ src: UnsafePointer<Float>, _: T.Type, _ out: UnsafeMutableRawPointer, _ n: Int) {
        let w = MemoryLayout<T>.size
        for i in 0..<n { out.storeBytes(of: T(src[i].rounded(.towardZero)), toByteOffset: i * w, as: T.self) }
    }

    static func fitsInteger(_ v: Float, _ dtype: DType) -> Bool {
        guard v.isFinite else { return false }
        let t = v.rounded(.towardZero)
        switch dtype {
        case .u8: return UInt8(exactly: t) != nil
        case .i8: return Int8(exactly: t) != nil
        case .u16: return UInt16(exactly: t) != nil
        case .i16: return Int16(exactly: t) != nil
        case .u32: return UInt32(exactly: t) != nil
        case .i32: return Int32(exactly: t) != nil
        case .u64: return UInt64(exactly: t) != nil
        case .i64: return Int64(exactly: t) != nil
        default: return true
        }
    }
}

extension ConversionError {
    /// The element index a `notRepresentable` error names (other errors sort first).
    var index: Int { if case .notRepresentable(_, let i, _) = self { i } else { -1 } }

    func offset(by start: Int) -> ConversionError {
        if case .notRepresentable(let t, let i, let v) = self { return .notRepresentable(t, index: i + start, value: v) }
        return self
    }
}

/// Carries a value the compiler cannot prove thread-safe across a concurrency boundary; each use
/// states why it is safe.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
