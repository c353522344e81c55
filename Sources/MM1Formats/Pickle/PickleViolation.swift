// Reason codes (`code`), as `Tests/Fixtures/malformed/pickle/expected.json` spells them:
//   truncated unknownOpcode forbiddenOpcode forbiddenGlobal badStructure memoMissing memoLimit containerLimit
//   depthLimit lengthLimit trailingBytes badPersistentID badStorageKey missingRecord recordSizeMismatch
//   viewOutOfBounds badRebuildArguments unsupportedStorage notACheckpoint torchScript tarFormat legacyModule
//   badLegacyHeader notZip zipTruncated centralDirectoryOutOfBounds entryOutOfBounds overlappingEntries
//   duplicateEntry compressedEntry multiplePickles missingDataPickle localHeaderMismatch
// Added by the Swift reader: nodeLimit (more values than PickleLimits.maxNodes).
// The zip-level codes (notZip … localHeaderMismatch) come from TorchZipViolation (FormatError.Reason.torchZip),
// the torchzip branch's container reader; this type holds the rest.

/// One rule of a PyTorch checkpoint (its pickle, its zip or legacy container, its tensors), broken.
/// Nothing from a refused file is ever run: the pickle machine builds inert values and calls nothing.
public enum PickleViolation: Error, Sendable, Equatable, CustomStringConvertible {
    // MARK: The pickle machine
    /// The pickle ends inside `what` (or before STOP).
    case truncated(String)
    /// A byte that is no pickle opcode.
    case unknownOpcode(UInt8)
    /// An opcode mm1conv never runs: EXT1/2/4 (the copyreg extension registry), text PERSID, NEXT_BUFFER.
    case forbiddenOpcode(String)
    /// A global outside the allowlist of tensor-rebuilding names.
    case forbiddenGlobal(module: String, name: String)
    /// Opcodes that do not make a well-formed value (APPEND on a dict, SETITEM on a list, REDUCE on a string, …).
    case badStructure(String)
    /// A memo lookup of an index nothing was stored at.
    case memoMissing(Int)
    /// A memo index or entry count above the cap.
    case memoLimit(index: Int, limit: Int)
    /// A container or the stack holding more items than the cap; or values shared through the memo
    /// that expand into more paths than the walk visits (16 per value created, see ``TorchStateDict``).
    case containerLimit(count: Int, limit: Int)
    /// Values nested, or MARKs open, deeper than the cap.
    case depthLimit(Int)
    /// A string or bytes length above the cap or past the end of the input.
    case lengthLimit(length: UInt64, limit: Int)
    /// More values created than the cap.
    case nodeLimit(Int)
    /// Bytes after STOP.
    case trailingBytes(Int)

    // MARK: Tensors
    /// A persistent id that is not a well-formed `('storage', type, key, location, numel)` tuple.
    case badPersistentID(String)
    /// A storage key that is not a plain record name.
    case badStorageKey(String)
    /// A storage whose record is not in the file.
    case missingRecord(String)
    /// A storage record whose size is not numel × element size.
    case recordSizeMismatch(record: String, expected: Int, actual: Int)
    /// A tensor whose offset, sizes and strides reach outside its storage.
    case viewOutOfBounds(String)
    /// A call to a rebuild function with arguments that do not describe a tensor.
    case badRebuildArguments(String)
    /// A storage or dtype mm1conv does not read (complex128, quantized storages, …).
    case unsupportedStorage(String)
    /// The pickle holds no dict of tensors.
    case notACheckpoint(String)
    /// Whole `nn.Module`s pickled (legacy `('module', …)` persistent ids).
    case legacyModule

    // MARK: Containers
    /// A TorchScript archive (`constants.pkl`, `code/`): a program, not a checkpoint.
    case torchScript
    /// torch's pre-0.1.10 tar format.
    case tarFormat
    /// The legacy stacked-pickle format's magic number, protocol or sys_info is wrong.
    case badLegacyHeader(String)
    /// More than one `data.pkl`.
    case multiplePickles
    /// No `data.pkl`.
    case missingDataPickle

    /// A stable name for the rule (the corpus manifest's `reason`).
    public var code: String {
        switch self {
        case .truncated: "truncated"
        case .unknownOpcode: "unknownOpcode"
        case .forbiddenOpcode: "forbiddenOpcode"
        case .forbiddenGlobal: "forbiddenGlobal"
        case .badStructure: "badStructure"
        case .memoMissing: "memoMissing"
        case .memoLimit: "memoLimit"
        case .containerLimit: "containerLimit"
        case .depthLimit: "depthLimit"
        case .lengthLimit: "lengthLimit"
        case .nodeLimit: "nodeLimit"
        case .trailingBytes: "trailingBytes"
        case .badPersistentID: "badPersistentID"
        case .badStorageKey: "badStorageKey"
        case .missingRecord: "missingRecord"
        case .recordSizeMismatch: "recordSizeMismatch"
        case .viewOutOfBounds: "viewOutOfBounds"
        case .badRebuildArguments: "badRebuildArguments"
        case .unsupportedStorage: "unsupportedStorage"
        case .notACheckpoint: "notACheckpoint"
        case .legacyModule: "legacyModule"
        case .torchScript: "torchScript"
        case .tarFormat: "tarFormat"
        case .badLegacyHeader: "badLegacyHeader"
        case .multiplePickles: "multiplePickles"
        case .missingDataPickle: "missingDataPickle"
        }
    }

    public var description: String {
        switch self {
        case .truncated(let what): "pickle ends inside \(what)"
        case .unknownOpcode(let op): "unknown pickle opcode 0x\(String(op, radix: 16))"
        case .forbiddenOpcode(let name): "pickle opcode \(name) is refused (it reaches outside the file's own values)"
        case .forbiddenGlobal(let module, let name):
            "pickle references '\(module).\(name)', which is not on the allowlist of tensor-rebuilding names; "
                + "nothing was run (mm1conv never calls anything from a pickle), but torch.load(weights_only=False) would call it"
        case .badStructure(let why): "malformed pickle: \(why)"
        case .memoMissing(let i): "pickle memo has no entry \(i)"
        case .memoLimit(let i, let l): "pickle memo index or entry count \(i) exceeds the cap of \(l)"
        case .containerLimit(let n, let l): "pickle container, stack or expansion of shared values reaches \(n) items, over the cap of \(l)"
        case .depthLimit(let l): "pickle values nested deeper than \(l) levels"
        case .lengthLimit(let n, let l): "pickle string or bytes of \(n) bytes exceeds the cap of \(l) or the bytes left"
        case .nodeLimit(let l): "pickle creates more than \(l) values"
        case .trailingBytes(let n): "\(n) bytes after the pickle's STOP opcode"
        case .badPersistentID(let why): "persistent id is not a storage reference: \(why)"
        case .badStorageKey(let key): "storage key \"\(FormatError.abbreviated(key))\" is not a plain record name"
        case .missingRecord(let name): "storage record '\(name)' is not in the file"
        case .recordSizeMismatch(let r, let e, let a): "storage record '\(r)' holds \(a) bytes but its numel × element size is \(e)"
        case .viewOutOfBounds(let why): "tensor view reaches outside its storage: \(why)"
        case .badRebuildArguments(let why): "tensor rebuild arguments do not describe a tensor: \(why)"
        case .unsupportedStorage(let what): "\(what) is not supported"
        case .notACheckpoint(let why): "not a PyTorch checkpoint: \(why)"
        case .legacyModule: "the file pickles whole nn.Module objects (legacy ('module', …) persistent ids); only state dicts are read"
        case .torchScript: "a TorchScript archive (constants.pkl / code/): a program, not a state dict; save model.state_dict() with torch.save instead"
        case .tarFormat: "torch's old tar format (before PyTorch 0.1.10) is not read; re-save the checkpoint with a current torch"
        case .badLegacyHeader(let why): "legacy torch checkpoint header: \(why)"
        case .multiplePickles: "archive holds more than one data.pkl"
        case .missingDataPickle: "archive holds no data.pkl"
        }
    }
}
