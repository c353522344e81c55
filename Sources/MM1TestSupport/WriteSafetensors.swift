import MM1Formats
import MM1Tensor

/// Writes `entries` (name, dtype, shape and their bytes) as one safetensors file with mm1conv's writer.
public func writeSafetensors(_ entries: [(SafetensorsLayout.Entry, [UInt8])], to path: String, metadata: [String: String] = ["format": "pt"]) throws {
    let layout = try SafetensorsLayout(entries: entries.map(\.0), metadata: metadata)
    let writer = try SafetensorsWriter(path: path, layout: layout)
    let byName = Dictionary(uniqueKeysWithValues: entries.map { ($0.0.name, $0.1) })
    for info in layout.tensors { try byName[info.name]!.withUnsafeBytes { try writer.write(info.name, bytes: $0) } }
    try writer.commit()
}
