/// Why an output could not be written.
public enum OutputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The destination exists and overwriting was not asked for.
    case exists(path: String)
    /// Two tensors with one name in the same output.
    case duplicateTensor(String)
    /// A tensor name the writer cannot store (empty, or the reserved `__metadata__`).
    case invalidTensorName(String)
    /// Tensors must be written in the layout's order.
    case outOfOrder(expected: String?, got: String)
    /// The bytes given for a tensor are not as many as its dtype and shape need.
    case byteCountMismatch(tensor: String, expected: Int, got: Int)
    /// The writer was finished before every tensor was written.
    case incomplete(missing: [String])
    /// A shape whose byte size overflows or does not fill whole bytes.
    case unrepresentable(tensor: String)
    /// Another live mm1conv process is writing the same output.
    case busy(path: String, pid: Int32?)

    public var description: String {
        switch self {
        case .exists(let p): "\(p) exists; pass --force to replace it or choose another path"
        case .duplicateTensor(let n): "tensor '\(n)' is written twice"
        case .invalidTensorName(let n): "tensor name \"\(n)\" cannot be stored"
        case .outOfOrder(let e, let g): "tensor '\(g)' written out of order (expected '\(e ?? "nothing")')"
        case .byteCountMismatch(let t, let e, let g): "tensor '\(t)' needs \(e) bytes, got \(g)"
        case .incomplete(let m): "output finished with \(m.count) tensors unwritten (first: \(m.first ?? ""))"
        case .unrepresentable(let t): "tensor '\(t)' has a size that cannot be stored"
        case .busy(let p, let pid): "\(p) is being written by another mm1conv process" + (pid.map { " (pid \($0))" } ?? "") + "; wait for it or choose another path"
        }
    }
}
