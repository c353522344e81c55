import Foundation
import MM1Formats
import MM1Graph
import MM1Quantization
import MM1Tensor

/// One parameter's values as `Float`, ready for the forward pass: either a zero-copy view of a
/// little-endian F32 tensor that happens to be 4-byte aligned, or a converted copy (BF16, F16, F8,
/// unaligned F32, or a quantized parameter's codes dequantized).
public final class Weight: @unchecked Sendable {
    /// The parameter's shape, outermost dimension first.
    public private(set) var shape: [Int]
    /// `shape`'s element count.
    public let count: Int
    /// The values; valid for as long as this object lives.
    public let pointer: UnsafePointer<Float>
    private let owned: UnsafeMutablePointer<Float>?
    private let view: TensorView?
    private var releasing: Range<Int>? = nil
    /// The weight laid out for the matrix products once (see ``prepack()``), if it was.
    package private(set) var packed: BLAS.PackedWeight?

    /// Wraps values already converted into `owned` (this object deallocates them).
    init(shape: [Int], owned: UnsafeMutablePointer<Float>) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.owned = owned
        self.pointer = UnsafePointer(owned)
        self.view = nil
    }

    /// A weight holding a copy of `values`.
    public convenience init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *))
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { buffer.initialize(from: base, count: values.count) }
        }
        self.init(shape: shape, owned: buffer)
    }

    /// A zero-copy weight over `shape` values at `pointer`, inside an aligned F32 view that it keeps alive.
    init(shape: [Int], pointer: UnsafePointer<Float>, in view: TensorView, releasing: Range<Int>?) {
        self.shape = shape
        count = shape.reduce(1, *)
        self.pointer = pointer
        owned = nil
        self.view = view
        self.releasing = releasing
    }

    deinit {
        owned?.deallocate()
        if let view, let releasing { view.releasePages(in: releasing) }
    }

    /// Lays the weight out for the matrix products once, for a linear layer's weight that many forward
    /// passes use (``CachedWeights``): read as its matrix (``asMatrixWeight()``), as much memory again as
    /// the weight. Does nothing where the products do not run on OpenBLAS's building blocks.
    public func prepack() {
        guard packed == nil else { return }
        _ = asMatrixWeight()
        packed = BLAS.packWeight(pointer, rows: rows, width: cols, ldw: cols)
    }

    /// This weight as the linear layer writing `out` (rows `ldc` floats apart) in a ``BLAS/linear(_:tokens:width:ldx:_:maxPackedInput:)``.
    func linearOutput(into out: UnsafeMutablePointer<Float>, ldc: Int, bias: Weight? = nil) -> BLAS.LinearOutput {
        BLAS.LinearOutput(weight: pointer, rows: rows, ldw: cols, out: out, ldc: ldc, bias: bias?.pointer, packed: packed)
    }

    /// Number of rows when the parameter is read as a matrix (its first dimension).
    public var rows: Int { shape.first ?? 1 }

    /// Number of columns when the parameter is read as a matrix (the product of its other dimensions).
    public var cols: Int { shape.count <= 1 ? (shape.first ?? 1) : shape.dropFirst().reduce(1, *) }

    /// The same weight without its leading unit dimension (one expert sliced from a stacked
    /// `[E, out, in]` tensor becomes the `[out, in]` matrix of a linear layer).
    func asMatrixWeight() -> Weight {
        if shape.count > 2, shape[0] == 1 { shape.removeFirst() }
        return self
    }

    /// Element `i` (bounds-checked in debug builds).
    @inline(__always) public subscript(i: Int) -> Float { pointer[i] }

    /// A copy of the values.
    public var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// Where the forward pass gets its parameters' values: converts a graph leaf (a ``TensorView`` for
/// plain packages) into a ``Weight``. Weights are fetched when a layer runs and dropped after it, so
/// memory stays bounded by one layer's parameters however large the model.
public protocol WeightProvider: Sendable {
    /// The graph's leaf type (``TensorView`` for a plain package).
    associatedtype Parameter
    /// The parameter's canonical name, for errors.
    func name(of parameter: Parameter) -> String
    /// The values of `parameter` as `Float`.
    func weight(_ parameter: Parameter) throws(ReferenceError) -> Weight
    /// The values of `parameter[range]` along its first dimension (one expert of a stacked expert
    /// tensor, a block of rows of the output head), without converting the rest.
    func weight(_ parameter: Parameter, slice range: Range<Int>) throws(ReferenceError) -> Weight
    /// The values of `parameter` as a linear layer's weight: the same as ``weight(_:)``, and a provider
    /// that keeps weights may also keep them laid out for the matrix products (``Weight/prepack()``).
    func linearWeight(_ parameter: Parameter) throws(ReferenceError) -> Weight
    /// Rows `range` of `parameter` as a linear layer's weight (one expert, a block of the output head).
    func linearWeight(_ parameter: Parameter, slice range: Range<Int>) throws(ReferenceError) -> Weight
}

extension WeightProvider {
    public func linearWeight(_ parameter: Parameter) throws(ReferenceError) -> Weight { try weight(parameter) }

    public func linearWeight(_ parameter: Parameter, slice range: Range<Int>) throws(ReferenceError) -> Weight {
        try weight(parameter, slice: range)
    }

    /// Rows `indices` of a 2-D parameter (token embeddings), one slice per row.
    func rows(_ parameter: Parameter, _ indices: [Int]) throws(ReferenceError) -> Matrix {
        var values: [Float] = []
        var cols = 0
        for i in indices {
            let row = try weight(parameter, slice: i..<(i + 1))
            cols = row.cols
            values.append(contentsOf: UnsafeBufferPointer(start: row.pointer, count: row.count))
        }
        return Matrix(rows: indices.count, cols: cols, values: values)
    }
}

/// Weights straight from a package's stored tensors (or plain tensor views): F32 aligned views are
/// used in place; every other dtype ``DTypeConversion`` converts is converted, and quantized
/// parameters are dequantized, into a temporary buffer.
///
/// With `releasingPages`, the mapped pages a weight was read from are dropped once it has been
/// converted (or, for in-place F32, when it is released), so a pass over a model larger than memory
/// keeps only the current layer resident.
public struct ViewWeights<Leaf: StoredParameter>: WeightProvider {
    let releasingPages: Bool

    public init(releasingPages: Bool = false) { self.releasingPages = releasingPages }

    public func name(of leaf: Leaf) -> String { leaf.stored.name }

    public func weight(_ leaf: Leaf) throws(ReferenceError) -> Weight {
        try weight(leaf, slice: 0..<(leaf.stored.shape.first ?? 1))
    }

    public func weight(_ leaf: Leaf, slice range: Range<Int>) throws(ReferenceError) -> Weight {
        let stored = leaf.stored
        let dims = stored.shape
        let outer = dims.first ?? 1
        guard range.lowerBound >= 0, range.upperBound <= outer else {
            throw .parameter(stored.name, "slice \(range) outside its first dimension \(outer)")
        }
        let inner = dims.dropFirst().reduce(1, *)
        let shape = dims.isEmpty ? [] : [range.count] + dims.dropFirst()
        let count = range.count * inner
        switch stored {
        case .quantized(let q):
            // Rows of the flattened [rows, cols] matrix: `inner / cols` of them per slice of the first dimension.
            let perSlice = q.layout.rows / max(1, outer)
            let rows = (range.lowerBound * perSlice)..<(range.upperBound * perSlice)
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            GroupQuantizer.dequantize(q, rows: rows, into: UnsafeMutableBufferPointer(start: buffer, count: count))
            if releasingPages { q.releasePages(rows: rows) }
            return Weight(shape: shape, owned: buffer)
        case .plain(let view):
            return try plain(view, shape: shape, range: range, inner: inner, count: count)
        }
    }

    private func plain(_ view: TensorView, shape: [Int], range: Range<Int>, inner: Int, count: Int) throws(ReferenceError) -> Weight {
        guard let width = view.dtype.byteWidth else { throw .parameter(view.name, "dtype \(view.dtype) has no element width") }
        let byteRange = (range.lowerBound * inner * width)..<(range.upperBound * inner * width)
        let bytes = UnsafeRawBufferPointer(rebasing: view.bytes[byteRange])
        if view.dtype == .f32, count > 0, UInt(bitPattern: bytes.baseAddress) % UInt(MemoryLayout<Float>.alignment) == 0 {
            return Weight(shape: shape, pointer: bytes.baseAddress!.assumingMemoryBound(to: Float.self), in: view,
                          releasing: releasingPages ? byteRange : nil)
        }
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        do {
            try view.withUnsafeBytes { (_) throws(ConversionError) in
                try DTypeConversion.toFloat32(bytes, dtype: view.dtype, into: UnsafeMutableBufferPointer(start: buffer, count: count))
            }
        } catch {
            buffer.deallocate()
            throw ReferenceError.parameter(view.name, "cannot be read as f32: \(error)")
        }
        if releasingPages { view.releasePages(in: byteRange) }
        return Weight(shape: shape, owned: buffer)
    }
}

/// Weights converted once and kept, for programs that run many forward passes over the same model
/// (benchmarks, servers): each parameter's f32 values live in this process's own memory after first
/// use. Memory then grows to the whole model in f32 — use ``ViewWeights`` for a single pass.
public final class CachedWeights<Leaf: StoredParameter>: WeightProvider, @unchecked Sendable {
    private let base: ViewWeights<Leaf>
    private let lock = NSLock()
    private var cache: [String: Weight] = [:]

    public init() { base = ViewWeights() }

    public func name(of leaf: Leaf) -> String { leaf.stored.name }

    public func weight(_ leaf: Leaf) throws(ReferenceError) -> Weight {
        try weight(leaf, slice: 0..<(leaf.stored.shape.first ?? 1))
    }

    public func weight(_ leaf: Leaf, slice range: Range<Int>) throws(ReferenceError) -> Weight {
        try cached(leaf, range, linear: false)
    }

    /// Linear layers' weights are also kept packed for the products, so no pass packs them again.
    public func linearWeight(_ leaf: Leaf) throws(ReferenceError) -> Weight {
        try cached(leaf, 0..<(leaf.stored.shape.first ?? 1), linear: true)
    }

    public func linearWeight(_ leaf: Leaf, slice range: Range<Int>) throws(ReferenceError) -> Weight {
        try cached(leaf, range, linear: true)
    }

    private func cached(_ leaf: Leaf, _ range: Range<Int>, linear: Bool) throws(ReferenceError) -> Weight {
        let key = "\(leaf.stored.name)[\(range.lowerBound)..<\(range.upperBound)]"
        if let hit = lock.withLock({ () -> Weight? in
            if linear { cache[key]?.prepack() }
            return cache[key]
        }) { return hit }
        let fresh = try base.weight(leaf, slice: range)
        // A linear weight is read through its packed copy: its values stay where the base put them (the
        // package's mapping for aligned F32). Every other parameter is copied into owned memory.
        let kept = linear ? fresh : Weight(shape: fresh.shape, values: fresh.values)
        if linear { kept.prepack() }
        lock.withLock { cache[key] = kept }
        return kept
    }
}

/// Weights read straight from a checkpoint through its mapping plan (names mapped, transforms
/// applied, converted to f32), for running a source that is not a package — `mm1conv quantize`
/// verifies its output against its input this way. The last parameter read is kept, so slices of
/// one stacked tensor (experts) are made from one conversion.
public final class PlannedWeights: WeightProvider, @unchecked Sendable {
    public typealias Parameter = MappingPlan.Assignment
    private let source: any TensorSource
    private let lock = NSLock()
    private var last: (name: String, weight: Weight)?

    public init(source: any TensorSource) { self.source = source }

    /// The model over `plan`'s assignments.
    public static func model(_ plan: MappingPlan, config: MM1Config) throws -> MM1Model<MappingPlan.Assignment> {
        let byName = Dictionary(uniqueKeysWithValues: plan.assignments.map { ($0.spec.name, $0) })
        return try MM1Model(config: config) { spec in byName[spec.name]! }
    }

    public func name(of a: MappingPlan.Assignment) -> String { a.spec.name }

    public func weight(_ a: MappingPlan.Assignment) throws(ReferenceError) -> Weight {
        if let hit = lock.withLock({ last?.name == a.spec.name ? last?.weight : nil }) { return hit }
        let count = a.spec.shape.elementCount
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        do {
            let views = try a.sources.map { try source.view(named: $0.name) }
            try Materializer.fill(a, views: views, as: .f32, into: UnsafeMutableRawBufferPointer(start: buffer, count: count * 4))
        } catch {
            buffer.deallocate()
            throw .parameter(a.spec.name, "cannot be read from the checkpoint: \(error)")
        }
        let weight = Weight(shape: a.spec.shape.dimensions, owned: buffer)
        lock.withLock { last = (a.spec.name, weight) }
        return weight
    }

    public func weight(_ a: MappingPlan.Assignment, slice range: Range<Int>) throws(ReferenceError) -> Weight {
        let whole = try weight(a)
        let dims = a.spec.shape.dimensions
        guard range.lowerBound >= 0, range.upperBound <= (dims.first ?? 1) else { throw .parameter(a.spec.name, "slice \(range) outside its first dimension") }
        let inner = dims.dropFirst().reduce(1, *)
        let values = Array(UnsafeBufferPointer(start: whole.pointer + range.lowerBound * inner, count: range.count * inner))
        return Weight(shape: [range.count] + dims.dropFirst(), values: values)
    }
}
