/// Why an HDF5 weight file (or one of its datasets) is refused.
public enum HDF5Violation: Error, Sendable, Equatable, CustomStringConvertible, Codable {
    /// libhdf5 cannot open it as HDF5 (no signature).
    case notHDF5
    /// libhdf5 found the file cut short or damaged (its words).
    case truncated(String)
    /// A dataset type mm1conv does not read (complex, strings, enums, untagged opaque, …).
    case unsupportedType(String)
    /// Scalar, null or more than 4-dimensional dataspaces.
    case unsupportedRank(String)
    /// External storage or a virtual dataset: its bytes would come from another file.
    case externalStorage(String)
    /// A filter other than deflate, shuffle and fletcher32 (reading it could load a plugin).
    case pluginFilter(Int32)
    /// A dataset larger than the space there is to convert it.
    case tooLarge(bytes: UInt64, limit: UInt64)
    /// The isolated reader process died (a libhdf5 crash): its signal or status.
    case readerCrashed(String)
    /// The isolated reader process did not finish in time and was stopped (libhdf5 loops forever on some
    /// damaged files).
    case readerTimedOut(seconds: Int)
    /// A dataset declares more bytes than the file stores for it (unallocated or impossible storage).
    case unbackedData(declared: UInt64, stored: UInt64)

    /// The malformed corpus's category (`Tests/Fixtures/malformed/hdf5/MANIFEST.json`).
    public var category: String {
        switch self {
        case .notHDF5: "not_hdf5"
        case .truncated: "truncated"
        case .unsupportedType: "unsupported_dtype"
        case .unsupportedRank: "unsupported_rank"
        case .externalStorage: "external_storage"
        case .pluginFilter: "plugin_filter"
        case .tooLarge: "too_large"
        case .readerCrashed: "reader_crashed"
        case .readerTimedOut: "reader_timed_out"
        case .unbackedData: "unbacked_data"
        }
    }

    public var description: String {
        switch self {
        case .notHDF5: "not an HDF5 file"
        case .truncated(let why): "HDF5 file is truncated or damaged: \(why)"
        case .unsupportedType(let t): "dataset type \(t) is not supported (floats, integers and bf16 are)"
        case .unsupportedRank(let why): "dataspace \(why) is not supported (1 to 4 dimensions)"
        case .externalStorage(let why): "\(why): its data would be read from another file, which mm1conv refuses"
        case .pluginFilter(let id): "filter \(id) is not one mm1conv allows (deflate, shuffle, fletcher32): reading it could load a plugin"
        case .tooLarge(let bytes, let limit): "dataset of \(bytes) bytes exceeds \(limit) bytes (the free space to convert it)"
        case .readerCrashed(let why): "the HDF5 reader process crashed (\(why)); the file is damaged or hostile"
        case .readerTimedOut(let seconds): "the HDF5 reader process did not finish within \(seconds) s and was stopped; the file is damaged or hostile (MM1CONV_HDF5_TIMEOUT sets the base limit)"
        case .unbackedData(let declared, let stored): "dataset declares \(declared) bytes but the file stores \(stored) bytes for it"
        }
    }
}
