/// Named caps on what a reader accepts from an untrusted file, checked before anything is allocated.
public struct ReadLimits: Sendable, Equatable {
    /// Largest safetensors header, as the reference (`MAX_HEADER_SIZE`, 100 MB).
    public var maxHeaderBytes = 100_000_000
    /// Largest `model.safetensors.index.json`, as huggingface_hub (`MAX_INDEX_FILE_SIZE`, 10 MiB).
    public var maxIndexBytes = 10 * 1024 * 1024
    /// Most dimensions a tensor may have (the reference has no cap; real models use at most 5).
    public var maxRank = 64
    /// Deepest JSON nesting (a safetensors header needs 3).
    public var maxJSONDepth = 64

    public init() {}

    /// The defaults.
    public static let standard = ReadLimits()
}
