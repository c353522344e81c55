import MM1Tensor
/// Writes one safetensors file tensor by tensor, never holding more than the tensor being written.
///
/// ```swift
/// let layout = try SafetensorsLayout(entries: specs)
/// let writer = try SafetensorsWriter(path: "out.safetensors", layout: layout)
/// for info in layout.tensors { try writer.write(info.name, bytes: bytesOf(info.name)) }
/// try writer.commit()   // fsync, then move into place
/// ```
/// Tensors must be written in ``SafetensorsLayout/tensors`` order; the file appears at its path only
/// after ``commit()``, and is removed if the writer is released before.
public final class SafetensorsWriter {
    public let layout: SafetensorsLayout
    private let file: AtomicFile
    private var next = 0

    /// Creates the temporary file and writes the header.
    public init(path: String, layout: SafetensorsLayout, overwrite: Bool = false) throws {
        self.layout = layout
        self.file = try AtomicFile(path: path, overwrite: overwrite)
        try file.write(layout.headerBytes)
    }

    /// The tensor expected next, or `nil` when all are written.
    public var nextTensor: TensorInfo? { next < layout.tensors.count ? layout.tensors[next] : nil }

    /// Names of the tensors not written yet.
    public var remainingTensors: [String] { layout.tensors[next...].map(\.name) }

    /// Writes the bytes of the next tensor, which must be called `name`.
    public func write(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        guard let expected = nextTensor, expected.name == name else {
            throw OutputError.outOfOrder(expected: nextTensor?.name, got: name)
        }
        guard bytes.count == expected.byteCount else {
            throw OutputError.byteCountMismatch(tensor: name, expected: expected.byteCount, got: bytes.count)
        }
        try file.write(bytes)
        next += 1
    }

    /// Lets `fill` produce the next tensor's bytes into a buffer of the right size, then writes them.
    public func write(_ name: String, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        guard let expected = nextTensor, expected.name == name else {
            throw OutputError.outOfOrder(expected: nextTensor?.name, got: name)
        }
        let buffer = PageBuffer(byteCount: expected.byteCount)
        let exact = UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[0..<expected.byteCount])
        try fill(exact)
        try write(name, bytes: UnsafeRawBufferPointer(exact))
        withExtendedLifetime(buffer) {}
    }

    /// The file's SHA-256 and size, available after ``commit()``.
    public var digest: (sha256: String, bytes: Int)? { file.sha256.map { ($0, file.bytesWritten) } }

    /// Checks that every tensor was written, then syncs and moves the file into place.
    public func commit() throws {
        guard next == layout.tensors.count else {
            throw OutputError.incomplete(missing: remainingTensors)
        }
        try file.commit()
    }
}
