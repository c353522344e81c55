import MM1Tensor

/// The zip container reader the torch reader uses. Until the torchzip branch's `TorchZipArchive` is
/// merged, zip checkpoints are refused here by name.
enum TorchZipOpening {
    static func records(of mapping: MappedFile) throws -> any TorchRecords {
        throw FormatError(.pickle(.notACheckpoint("torch zip archives need the zip reader (torchzip branch)")), file: mapping.path)
    }
}
