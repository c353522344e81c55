import Foundation
import MM1Formats
import MM1Graph
import MM1Quantization
import MM1Tensor
import MM1PackageFormat

/// `mm1conv export --format safetensors`: a package as a plain checkpoint in a framework's names —
/// the inverse of `import`. Names come from ``DialectNamer`` (the first dialect whose copy rule can
/// name each parameter, and which maps the name back); quantized parameters are dequantized.
/// The folder gets `model.safetensors` (sharded with an index beyond `maxShardBytes`) and
/// `config.json` holding the MM1 config, which `import` reads back.
public enum SafetensorsExport {
    /// The dialects tried by default, in order: each framework's own names (not mm1conv's, not llama.cpp's).
    public static var defaultDialects: [Dialect] { BuiltinDialects.all.filter { $0.name != BuiltinDialects.mm1.name && $0.name != BuiltinDialects.llamaCpp.name } }

    /// Writes `package` to the folder `path`; returns, per dialect, how many parameters it named.
    /// - Parameter dtype: element type of every tensor; `nil` keeps plain tensors as stored and writes
    ///   dequantized ones as F32 (exact).
    @discardableResult
    public static func export(_ package: MM1Package, dialects: [Dialect] = defaultDialects, dtype: DType? = nil,
                              maxShardBytes: Int = 5_000_000_000, to path: String, overwrite: Bool = false) throws -> [String: Int] {
        let namer = DialectNamer(dialects: dialects)
        var entries: [SafetensorsLayout.Entry] = [], byName: [String: (StoredTensor, DType)] = [:], counts: [String: Int] = [:]
        var unnamed: [String] = []
        for spec in package.model.specs {
            guard let (name, dialect) = namer.sourceName(for: spec.name) else { unnamed.append(spec.name); continue }
            let stored = try package.parameter(named: spec.name)
            let out = dtype ?? stored.view?.dtype ?? .f32
            entries.append(.init(name: name, dtype: out, shape: spec.shape))
            byName[name] = (stored, out)
            counts[dialect, default: 0] += 1
        }
        if !unnamed.isEmpty {
            throw GGUFExport.ExportError.unnamed("\(unnamed.count) parameters have no name in the dialects \(dialects.map(\.name).joined(separator: ", ")) (first: \(unnamed[0]))")
        }
        let staging = try StagingFolder(beside: path)
        let writer = try SafetensorsCheckpointWriter(folder: staging.path, entries: entries, maxShardBytes: maxShardBytes, metadata: ["format": "pt"])
        for info in writer.writeOrder {
            let (stored, out) = byName[info.name]!
            if let view = stored.view, view.dtype == out {
                try view.withUnsafeBytes { try writer.write(info.name, bytes: $0) }
            } else {
                let values = try stored.floats()
                try writer.write(info.name) { bytes in
                    try values.withUnsafeBufferPointer { try DTypeConversion.fromFloat32($0, to: out, into: bytes) }
                }
            }
        }
        try writer.commit()
        let config = try AtomicFile(path: "\(staging.path)/config.json")
        try config.write(Array(try package.manifest.config.jsonData()))
        try config.commit()
        try TokenizerFiles.copy(from: package, into: staging.path)
        try staging.moveInto(path, overwrite: overwrite)
        return counts
    }
}
