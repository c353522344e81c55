/// Named caps on what the pickle machine accepts from an untrusted file. Each is checked before the
/// memory it guards is allocated, so a hostile pickle costs at most these, never what it declares.
///
/// Real checkpoints stay far below every cap: a 7B-parameter shard's `data.pkl` holds a few thousand
/// values, memo indexes below ten thousand, dicts of a few hundred entries, and nesting under ten.
public struct PickleLimits: Sendable, Equatable {
    /// Most memo entries (`PUT`, `BINPUT`, `LONG_BINPUT`, `MEMOIZE`).
    public var maxMemoEntries = 1 << 22
    /// Largest memo index (`LONG_BINPUT` could name 2^32 − 1; the memo is a dictionary, so only the count costs).
    public var maxMemoIndex = 1 << 30
    /// Most items in one list, dict, set or tuple, and on the stack (4 Mi items of 24 bytes: 100 MB).
    public var maxContainerItems = 1 << 22
    /// Deepest nesting of values (tuples in tuples, dicts in dicts) and most open `MARK`s. Python's own
    /// recursion limit is 1000; torch checkpoints nest below ten.
    public var maxDepth = 200
    /// Longest string or bytes value (it also never exceeds the bytes left in the input).
    public var maxStringBytes = 1 << 28
    /// Most values the machine creates in all (a checkpoint needs about 15 per tensor).
    public var maxNodes = 1 << 22

    public init() {}

    /// The defaults.
    public static let standard = PickleLimits()
}
