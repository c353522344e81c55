import Dispatch
import Foundation
import MM1Formats
import MM1Graph
import MM1Conversion
import MM1PackageFormat
import MM1Quantization
import MM1Reference
import MM1Tensor

/// Benchmarks for `make bench` (Tests/Benchmarks/run.sh runs them beside the Python peers and prints
/// the ratios). Each prints one JSON line: the median of the runs, and the process's peak RSS.
///
///   mm1bench convert bf16|f16 GIB RUNS     convert a GIB-sized buffer to f32
///   mm1bench open PATH RUNS                open a (sharded) checkpoint and list every tensor
///   mm1bench gguf PATH RUNS                open a GGUF file and dequantize every tensor to f32
///   mm1bench forward PKG REF RUNS          one reference forward pass (logits only) on REF's inputs,
///                                          after one warm-up pass
///   mm1bench gemm M N K RUNS               y[M×N] = x[M×K] · Wᵀ (W is N×K, a linear layer's weight) on seeded
///                                          values, as the forward pass calls it (BLAS.linear) and as one
///                                          cblas_sgemm per thread on a column split, interleaved
///   mm1bench synthesize CONFIG OUT         an f16 checkpoint of CONFIG's graph in canonical names: seeded Gaussian
///                                          weights (std 0.02), norm weights 1, written tensor by tensor
///   mm1bench quantize PATH int8|int4 RUNS  quantize every matrix of a safetensors file in memory (groups of 32)
///   mm1bench quant-rmse PATH               relative RMSE (√(Σ(x − x̂)²/Σx²)) and bits per weight of each
///                                          quantization scheme on the matrices of a safetensors file
func main() throws {
    let args = CommandLine.arguments
    guard args.count >= 3 else {
        print("usage: mm1bench convert bf16|f16 GIB RUNS | mm1bench open PATH RUNS")
        exit(64)
    }
    switch args[1] {
    case "convert":
        let dtype: DType = args[2] == "f16" ? .f16 : .bf16
        let gib = Double(args[3]) ?? 1
        let runs = Int(args[4]) ?? 5
        let bytes = Int(gib * Double(1 << 30))
        let count = bytes / 2
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64)
        let destination = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { source.deallocate(); destination.deallocate() }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let words = source.bindMemory(to: UInt64.self)
        for i in 0..<words.count {  // normal-ish values: random mantissas, exponents near 1
            state = state &* 6364136223846793005 &+ 1442695040888963407
            words[i] = (state & 0x03FF_03FF_03FF_03FF) | (dtype == .f16 ? 0x3800_3800_3800_3800 : 0x3F00_3F00_3F00_3F00)
        }
        destination.initialize(repeating: 0)
        let times = try (0..<runs).map { _ in
            try seconds { try DTypeConversion.toFloat32(UnsafeRawBufferPointer(source), dtype: dtype, into: destination) }
        }
        report(["bench": "convert", "dtype": dtype.rawValue, "bytes": bytes, "median_s": median(times),
                "gib_per_s": Double(bytes) / Double(1 << 30) / median(times), "threads": ProcessorCount.active])
    case "open":
        let runs = Int(args[3]) ?? 5
        var tensors = 0
        let times = try (0..<runs).map { _ in
            try seconds {
                let checkpoint = try SafetensorsCheckpoint(path: args[2])
                tensors = checkpoint.tensors.reduce(0) { n, info in n + (info.name.isEmpty ? 0 : 1) }
            }
        }
        // The same work as the Python peer: each shard opened and listed, without the index.
        let shardPaths = try FileManager.default.contentsOfDirectory(atPath: args[2]).filter { $0.hasSuffix(".safetensors") }.sorted()
        let shardTimes = try (0..<runs).map { _ in
            try seconds { for name in shardPaths { _ = try SafetensorsFile(path: "\(args[2])/\(name)").tensors.count } }
        }
        report(["bench": "open", "tensors": tensors, "median_s": median(times), "shards_only_median_s": median(shardTimes),
                "min_s": times.min()!, "shards_only_min_s": shardTimes.min()!])
    case "gguf":
        let runs = Int(args[3]) ?? 5
        var weights = 0
        // One output buffer, reused: what a converter streaming tensor by tensor does.
        var buffer = [Float]()
        func once() throws {
            let file = try GGUFFile(path: args[2])
            weights = 0
            for t in file.ggufTensors {
                if buffer.count < t.elementCount { buffer = [Float](repeating: 0, count: t.elementCount) }
                buffer.withUnsafeMutableBufferPointer { out in
                    GGUFDequantizer.dequantize(t.type, file.storedBytes(of: t), into: UnsafeMutableBufferPointer(rebasing: out[..<t.elementCount]))
                }
                weights += t.elementCount
            }
        }
        try once()  // warm the page cache, as the peer does
        let times = try (0..<runs).map { _ in try seconds { try once() } }
        report(["bench": "gguf", "median_s": median(times), "weights": weights, "threads": ProcessorCount.active])
    case "forward":
        let runs = Int(args[4]) ?? 5
        let package = try MM1Package.open(args[2])
        let inputs = try ReferenceActivations.read(args[3]).inputs
        // Weights read through the package's mapping (as `verify` does), and kept in f32 in memory after
        // the first pass (as PyTorch holds them): both are timed.
        let mapped = MM1Forward(model: package.model, weights: ViewWeights())
        var mappedLogits: StageTensor?
        let first = try seconds { mappedLogits = try mapped.run(inputs) { $0 == "logits" }["logits"] }
        let times = try (0..<runs).map { _ in try seconds { _ = try mapped.run(inputs) { $0 == "logits" } } }
        let cached = MM1Forward(model: package.model, weights: CachedWeights())
        // Weights packed once or as each product goes: the same sums, so the same bits.
        let cachedLogits = try cached.run(inputs) { $0 == "logits" }["logits"]
        let identical = cachedLogits.map { c in mappedLogits.map { zip(c.values, $0.values).allSatisfy { $0.bitPattern == $1.bitPattern } } ?? false } ?? false
        let cachedTimes = try (0..<runs).map { _ in try seconds { _ = try cached.run(inputs) { $0 == "logits" } } }
        report(["bench": "forward", "median_s": median(times), "cached_median_s": median(cachedTimes), "min_s": times.min()!, "first_s": first, "times_s": times, "cached_times_s": cachedTimes,
                "runs": runs, "threads": ProcessorCount.active, "tokens": inputs.inputIDs.first?.count ?? 0,
                "cached_logits_identical": identical,
                "blas": BLAS.description])
    case "gemm":
        let (m, n, k, runs) = (Int(args[2])!, Int(args[3])!, Int(args[4])!, Int(args[5]) ?? 20)
        try BLAS.prepare()
        let x = (0..<(m * k)).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
        let w = (0..<(n * k)).map { Float(($0 * 104_729) % 1000) / 1000 - 0.5 }
        var y = [Float](repeating: 0, count: m * n)
        // As the forward pass calls it (BLAS.linear), and as one cblas_sgemm per thread on a column split
        // (BLAS.gemm), interleaved.
        func once(_ linear: Bool) {
            x.withUnsafeBufferPointer { a in w.withUnsafeBufferPointer { b in y.withUnsafeMutableBufferPointer { c in
                if linear {
                    BLAS.linear(a.baseAddress!, tokens: m, width: k, ldx: k,
                                [BLAS.LinearOutput(weight: b.baseAddress!, rows: n, ldw: k, out: c.baseAddress!, ldc: n)])
                } else {
                    BLAS.gemm(a.baseAddress!, lda: k, b.baseAddress!, ldb: k, transposeB: true, c.baseAddress!, ldc: n, m: m, n: n, k: k)
                }
            } } }
        }
        once(true)
        once(false)
        var times: [Double] = [], splitTimes: [Double] = []
        for _ in 0..<runs {
            times.append(seconds { once(true) })
            splitTimes.append(seconds { once(false) })
        }
        report(["bench": "gemm", "m": m, "n": n, "k": k, "median_s": median(times), "min_s": times.min()!,
                "gflops": 2.0 * Double(m * n * k) / median(times) / 1e9, "column_split_median_s": median(splitTimes),
                "column_split_gflops": 2.0 * Double(m * n * k) / median(splitTimes) / 1e9,
                "paired_ratio_median": median(zip(times, splitTimes).map { $0 / $1 }), "threads": ProcessorCount.active,
                "blas": BLAS.description])
    case "synthesize":
        let config = try JSONDecoder().decode(MM1Config.self, from: Data(contentsOf: URL(fileURLWithPath: args[2])))
        let specs = try MM1Model(graphOf: config).specs
        let layout = try SafetensorsLayout(entries: specs.map { .init(name: $0.name, dtype: .f16, shape: $0.shape) })
        let writer = try SafetensorsWriter(path: args[3], layout: layout)
        var state: UInt64 = 20261129
        func gaussian() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let u1 = Double(state >> 11) / Double(1 << 53) + 1e-300
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let u2 = Double(state >> 11) / Double(1 << 53)
            return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2) * 0.02)
        }
        let byName = Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0) })
        for info in layout.tensors {
            let spec = byName[info.name]!
            let isNorm = spec.role == .normWeight
            let values = (0..<spec.shape.elementCount).map { _ in isNorm ? 1 : gaussian() }
            var bytes = [UInt8](repeating: 0, count: info.byteCount)
            try values.withUnsafeBufferPointer { v in try bytes.withUnsafeMutableBytes { try DTypeConversion.fromFloat32(v, to: .f16, into: $0) } }
            try bytes.withUnsafeBytes { try writer.write(info.name, bytes: $0) }
        }
        try writer.commit()
        report(["bench": "synthesize", "weights": specs.reduce(0) { $0 + $1.shape.elementCount }])
    case "quant-rmse":
        let file = try SafetensorsFile(path: args[2])
        let schemes: [(String, QuantizedFormat, Bool)] = [
            ("int8 sym g32 (= Q8_0)", .init(bits: .int8, mode: .symmetric, groupSize: 32), false),
            ("int4 sym g32 (= Q4_0)", .init(bits: .int4, mode: .symmetric, groupSize: 32), false),
            ("int4 sym g32 optimized", .init(bits: .int4, mode: .symmetric, groupSize: 32), true),
            ("int4 nonlinear g32 (= IQ4_NL)", .init(bits: .int4, mode: .nonlinear, groupSize: 32), false),
            ("int4 nonlinear g32 optimized", .init(bits: .int4, mode: .nonlinear, groupSize: 32), true),
            ("int4 affine g64", .init(bits: .int4, mode: .affine, groupSize: 64), false),
            ("int4 affine g64 optimized", .init(bits: .int4, mode: .affine, groupSize: 64), true),
            ("int4 affine g32", .init(bits: .int4, mode: .affine, groupSize: 32), false),
            ("int4 affine g32 optimized", .init(bits: .int4, mode: .affine, groupSize: 32), true),
        ]
        var results: [[String: Any]] = []
        for (label, format, optimize) in schemes {
            var squaredError = 0.0, squaredValue = 0.0, weights = 0, bytes = 0
            for info in file.tensors where info.shape.rank == 2 && [.f16, .bf16, .f32].contains(info.dtype) {
                guard (try? format.layout(of: info.shape.dimensions)) != nil else { continue }
                let x = try file.view(named: info.name).floats()
                let stored = try GroupQuantizer(format: format, scaleDType: .f16, optimizeScales: optimize).quantize(info.name, x, shape: info.shape.dimensions)
                let back = stored.floats()
                for i in 0..<x.count {
                    let d = Double(x[i] - back[i])
                    squaredError += d * d
                    squaredValue += Double(x[i]) * Double(x[i])
                }
                weights += x.count
                bytes += stored.byteCount
            }
            results.append(["scheme": label, "relative_rmse": (squaredError / max(squaredValue, 1e-300)).squareRoot(),
                            "bits_per_weight": Double(bytes * 8) / Double(max(weights, 1)), "weights": weights])
        }
        report(["bench": "quant-rmse", "file": args[2], "schemes": results])
    case "quantize":
        // Quantize every matrix of a safetensors file in memory (no file I/O), as mlx.core.quantize is timed.
        let file = try SafetensorsFile(path: args[2])
        let format = QuantizedFormat(bits: args[3] == "int8" ? .int8 : .int4, mode: .symmetric, groupSize: 32)
        let runs = Int(args[4]) ?? 3
        let matrices = try file.tensors.filter { $0.shape.rank == 2 && $0.shape.dimensions[1] % 32 == 0 }.map { ($0, try file.view(named: $0.name).floats()) }
        var weights = 0
        let times = try (0..<runs).map { _ in
            try seconds {
                weights = 0
                for (info, x) in matrices {
                    _ = try GroupQuantizer(format: format).quantize(info.name, x, shape: info.shape.dimensions)
                    weights += x.count
                }
            }
        }
        report(["bench": "quantize-memory", "format": "\(format)", "median_s": median(times), "weights": weights,
                "weights_per_s": Double(weights) / median(times), "threads": ProcessorCount.active])
    default:
        print("unknown benchmark \(args[1])")
        exit(64)
    }
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Peak resident set size in bytes (VmHWM), or 0 where /proc is missing.
func peakRSS() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
    return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
}

func report(_ fields: [String: Any]) {
    var all = fields
    all["impl"] = "mm1conv"
    all["peak_rss"] = peakRSS()
    let data = try! JSONSerialization.data(withJSONObject: all, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

try main()
