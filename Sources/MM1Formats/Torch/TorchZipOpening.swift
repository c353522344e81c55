import MM1Tensor

/// The zip container reader the torch reader uses: ``TorchZipArchive``, which validates the whole
/// central directory (stored entries only, in bounds, no overlaps or duplicates, one folder) first.
enum TorchZipOpening {
    static func records(of mapping: MappedFile) throws -> any TorchRecords {
        try TorchZipArchive(mapping)
    }
}

extension TorchZipArchive: TorchRecords {
    var recordNames: [String] { entries.map(\.name) }
    func recordRange(_ name: String) -> Range<Int>? { self[name]?.range }
}
