import Foundation
import MM1Formats
import MM1Graph
import MM1Quantization
import MM1Tensor
import MM1PackageFormat

/// The element type an import writes.
public enum OutputDType: String, Sendable, CaseIterable {
    case keep, f32, f16, bf16

    func dtype(for source: DType) -> DType {
        switch self {
        case .keep: source
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }
}

/// Writes a checkpoint as an MM1 package: canonical names, safetensors shards and `mm1.json`.
///
/// Everything is decided first (the mapping plan and the shard layout); then parameters are made
/// and written one at a time, so memory stays at about the largest parameter; the package is
/// written into a temporary folder beside the destination and moved into place only when its
/// manifest is complete. A failed import leaves nothing behind; the input is only read.
public struct Importer {
    public var dialects: [Dialect] = BuiltinDialects.all
    public var allowUnused: [String] = []
    public var dtype: OutputDType = .keep
    /// Largest shard's tensor data.
    public var maxShardBytes = 2_000_000_000
    public var overwrite = false
    /// Called with the bytes written after each parameter.
    public var progress: (@Sendable (Int) -> Void)?
    /// Store parameters quantized, as the policy decides (`mm1conv quantize`); `nil` for a plain import.
    public var quantization: QuantizationPolicy?
    /// Tokenizer files to carry into the package (see ``TokenizerFiles/find(beside:)``).
    public var tokenizerFiles: [String] = []

    public init() {}

    /// Plans the import of `checkpoint` onto `config` without writing anything.
    public func plan(_ checkpoint: OpenedCheckpoint, config: MM1Config) throws -> MappingPlan {
        try MappingPlan(tensors: checkpoint.source.tensors, config: config, dialects: dialects, allowUnused: allowUnused)
    }

    /// Imports `checkpoint` into the package folder `destination`.
    /// - Throws: ``ImportError`` (with the full report) when the checkpoint does not match the
    ///   configuration; `OutputError.exists` when `destination` exists and ``overwrite`` is off.
    @discardableResult
    public func run(_ checkpoint: OpenedCheckpoint, config: MM1Config, notes: [String] = [], to destination: String) throws -> (MappingPlan, PackageManifest) {
        let plan = try self.plan(checkpoint, config: config)
        guard plan.report.isComplete else { throw ImportError(report: plan.report) }
        if !overwrite, FileManager.default.fileExists(atPath: destination) { throw OutputError.exists(path: destination) }

        let layout = try StorageLayout(plan: plan, dtype: dtype, policy: quantization)
        let staging = try StagingFolder(beside: destination)
        // Source files are hashed for the provenance on another thread while tensors are converted.
        let sourceHashes = SourceHashing(files: Set(checkpoint.files).sorted())
        let writer = try SafetensorsCheckpointWriter(folder: staging.path, entries: layout.entries, maxShardBytes: maxShardBytes, metadata: ["format": "pt"])
        // Two stages overlap: this thread converts parameter n+1 while a writer thread hashes and
        // writes parameter n (see WritePipeline for the memory bound).
        let pipeline = WritePipeline(writer: writer, depth: 2, largest: writer.writeOrder.map(\.byteCount).max() ?? 0)
        defer { pipeline.drain() }  // on an error, no write may still run when the staging folder goes
        let quantized = QuantizedParts(largestCount: layout.largestQuantizedCount, scaleDType: layout.scaleDType)
        var carriedCount = 0
        for info in writer.writeOrder {
            try pipeline.check()
            let buffer = pipeline.buffer(byteCount: info.byteCount)
            let out = UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[0..<info.byteCount])
            switch layout.parts[info.name]! {
            case .plain(let assignment):
                let views = try assignment.sources.map { try checkpoint.source.view(named: $0.name) }
                try Materializer.fill(assignment, views: views, as: info.dtype, into: out)
                views.forEach { $0.releasePages() }
            case .quantized(let assignment, let tensorLayout, let piece):
                var carried: (codes: [UInt8], scales: [UInt8])?
                try quantized.write(piece, of: assignment, layout: tensorLayout, into: out) { values throws in
                    // GGUF blocks already in the target format are taken as they are.
                    if let parts = BlockCarry.parts(assignment, source: checkpoint.source, layout: tensorLayout, scaleDType: layout.scaleDType) {
                        carried = parts
                        carriedCount += 1
                        return
                    }
                    let views = try assignment.sources.map { try checkpoint.source.view(named: $0.name) }
                    try Materializer.fill(assignment, views: views, as: .f32, into: values)
                    views.forEach { $0.releasePages() }
                } quantize: { values, codes, scales, biases throws in
                    if let carried {
                        codes.copyBytes(from: carried.codes)
                        scales.copyBytes(from: carried.scales)
                        return
                    }
                    try GroupQuantizer(format: tensorLayout.format, scaleDType: layout.scaleDType, optimizeScales: layout.optimizeScales)
                        .quantize(assignment.spec.name, values, layout: tensorLayout, codes: codes, scales: scales, biases: biases)
                }
            }
            pipeline.submit(info, buffer)
            progress?(info.byteCount)
        }
        let digests = try pipeline.finish()
        try writer.commit()

        var tensors: [String: PackageManifest.Tensor] = [:]
        var shards: [String: PackageManifest.Shard] = [:]
        let shardDigests = writer.shardDigests
        for shard in writer.shards {
            let (digest, bytes) = shardDigests[shard.fileName]!
            shards[shard.fileName] = .init(bytes: bytes, sha256: digest)
            for t in shard.layout.tensors {
                tensors[t.name] = .init(dtype: t.dtype, shape: t.shape.dimensions, shard: shard.fileName,
                                        offset: shard.layout.headerBytes.count + t.byteRange.lowerBound, bytes: t.byteCount, sha256: digests[t.name]!,
                                        quantization: layout.quantization[t.name])
            }
        }
        var files: [String: PackageManifest.Shard] = [:]
        if !tokenizerFiles.isEmpty {
            try FileManager.default.createDirectory(atPath: "\(staging.path)/\(TokenizerFiles.folder)", withIntermediateDirectories: false)
            for source in tokenizerFiles {
                let name = "\(TokenizerFiles.folder)/\((source as NSString).lastPathComponent)"
                guard TokenizerFiles.isSafePackagePath(name) else { continue }
                let data = try Data(contentsOf: URL(fileURLWithPath: source))
                let copy = try AtomicFile(path: "\(staging.path)/\(name)")
                try copy.write(Array(data))
                try copy.commit()
                files[name] = .init(bytes: data.count, sha256: data.withUnsafeBytes { Hashing.sha256($0) })
            }
        }
        let sources = try sourceHashes.wait()
        let manifest = PackageManifest(
            format: PackageManifest.formatName, formatVersion: PackageManifest.currentVersion, config: config, tensors: tensors, shards: shards,
            provenance: .init(
                tool: "mm1conv \(MM1ConvVersion.string)", sourceFormat: checkpoint.formatName, sources: sources, dialects: plan.report.dialects,
                transforms: Dictionary(uniqueKeysWithValues: plan.assignments.map { a in
                    (a.spec.name, "\(a.transform) of \(a.sources.map(\.name).joined(separator: ", ")) [\(a.dialect)]")
                }),
                decisions: notes + plan.report.decisions + layout.notes
                    + (carriedCount > 0 ? ["\(carriedCount) parameters carried over from their GGUF Q8_0/Q4_0/IQ4_NL blocks without requantizing"] : [])
                    + (files.isEmpty ? [] : ["tokenizer carried: " + files.keys.sorted().joined(separator: ", ")])),
            files: files.isEmpty ? nil : files)
        let file = try AtomicFile(path: "\(staging.path)/\(PackageManifest.fileName)")
        try file.write(Array(try manifest.jsonData()))
        try file.commit()
        try staging.moveInto(destination, overwrite: overwrite)
        return (plan, manifest)
    }
}

/// The version written into manifests.
public enum MM1ConvVersion {
    public static let string = "0.1.0"
}

extension PackageManifest {
    /// Stable JSON: sorted keys, two-space indentation, a final newline.
    public func jsonData() throws -> Data { try StableJSON.encode(self) + Data("\n".utf8) }
}

/// A temporary folder beside a destination, removed unless moved into place.
final class StagingFolder {
    let path: String
    private var moved = false
    /// Held from creation to the rename: a second writer of the same destination fails meanwhile.
    private let lock: OutputLock

    init(beside destination: String) throws {
        let url = URL(fileURLWithPath: destination)
        let parent = url.deletingLastPathComponent().path
        path = "\(parent)/.\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        lock = try OutputLock(for: destination)
        TemporaryPaths.register(path)  // before it exists: an interrupt between the two would leave it behind
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    }

    /// Renames the folder to `destination`; an existing destination is replaced only with `overwrite`.
    func moveInto(_ destination: String, overwrite: Bool) throws {
        if FileManager.default.fileExists(atPath: destination) {
            guard overwrite else { throw OutputError.exists(path: destination) }
            let old = "\(path).old"
            try FileManager.default.moveItem(atPath: destination, toPath: old)
            try FileManager.default.moveItem(atPath: path, toPath: destination)
            try? FileManager.default.removeItem(atPath: old)
        } else {
            guard rename(path, destination) == 0 else { throw FileSystemError(path: destination, operation: "rename", code: errno) }
        }
        moved = true
        AtomicFile.syncFolder(of: destination)
    }

    deinit {
        if !moved { try? FileManager.default.removeItem(atPath: path) }
        TemporaryPaths.unregister(path)
    }
}

/// Hashes files on a background queue; ``wait()`` returns the manifest entries (or the first error).
final class SourceHashing: @unchecked Sendable {
    private let group = DispatchGroup()
    private var result: Result<[PackageManifest.SourceFile], any Error> = .success([])

    init(files: [String]) {
        group.enter()
        DispatchQueue.global(qos: .utility).async { [self] in
            result = Result {
                try files.map { path in
                    let (digest, bytes) = try Hashing.sha256(file: path)
                    return PackageManifest.SourceFile(name: (path as NSString).lastPathComponent, bytes: bytes, sha256: digest)
                }
            }
            group.leave()
        }
    }

    func wait() throws -> [PackageManifest.SourceFile] {
        group.wait()
        return try result.get()
    }
}

/// A SHA-256 computed on another thread; the bytes must stay valid until ``wait()`` returns.
final class BackgroundDigest: @unchecked Sendable {
    private let group = DispatchGroup()
    private var digest = ""

    init(_ bytes: UnsafeRawBufferPointer) {
        let shared = UncheckedBytes(bytes)
        group.enter()
        DispatchQueue.global().async { [self] in
            digest = Hashing.sha256(shared.bytes)
            group.leave()
        }
    }

    func wait() -> String {
        group.wait()
        return digest
    }
}

/// Read-only bytes handed to one background task that finishes before they are freed.
struct UncheckedBytes: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
}

/// The writing half of an import: parameters are hashed and written in order on one background
/// thread; the first error stops it and is rethrown to the converting thread.
///
/// Memory: at most `depth` parameters are in flight, and together no more bytes than the largest
/// one and half again (the two largest, e.g. an embedding and an output head next to each other in
/// write order, are not held at once: the second waits for the first to be written). Buffers are
/// reused, and a reused buffer gives back the pages it no longer needs.
final class WritePipeline: @unchecked Sendable {
    private let writer: SafetensorsCheckpointWriter
    private let queue = DispatchQueue(label: "mm1conv.import.writer")
    private let depth: Int
    private let budget: Int
    private let state = NSCondition()
    private var handedOut = 0
    private var inFlightBytes = 0
    private var error: (any Error)?
    private var digests: [String: String] = [:]
    /// Buffers of the largest parameter's size, reused (fresh pages for every parameter would cost a
    /// fault and a zeroing per page), with how many of their bytes are resident.
    private var free: [Lease] = []
    private let largest: Int

    init(writer: SafetensorsCheckpointWriter, depth: Int, largest: Int) {
        self.writer = writer
        self.depth = depth
        self.largest = largest
        budget = largest + largest / 2
    }

    /// A buffer for one parameter, and how many of its bytes are resident once the parameter is in it.
    struct Lease {
        let buffer: PageBuffer
        let resident: Int
        var bytes: UnsafeMutableRawBufferPointer { buffer.bytes }
    }

    /// A buffer for the next parameter, once it fits beside those in flight.
    func buffer(byteCount: Int) -> Lease {
        state.lock()
        while handedOut >= depth || (handedOut > 0 && inFlightBytes + byteCount > budget) { state.wait() }
        handedOut += 1
        inFlightBytes += byteCount
        let reused = free.popLast()
        state.unlock()
        guard let reused else { return Lease(buffer: PageBuffer(byteCount: max(byteCount, largest)), resident: byteCount) }
        // Pages beyond this parameter are given back when they are many (zeroing them again later
        // costs less than holding them).
        guard reused.resident > byteCount + (16 << 20) else { return Lease(buffer: reused.buffer, resident: max(reused.resident, byteCount)) }
        reused.buffer.releasePages(after: byteCount)
        return Lease(buffer: reused.buffer, resident: byteCount)
    }

    /// Queues a filled buffer for hashing and writing; the buffer is reused once written.
    func submit(_ info: TensorInfo, _ lease: Lease) {
        queue.async { [self] in
            defer {
                state.withLock {
                    free.append(lease)
                    handedOut -= 1
                    inFlightBytes -= info.byteCount
                    state.broadcast()
                }
            }
            guard state.withLock({ error == nil }) else { return }
            let bytes = UnsafeRawBufferPointer(rebasing: lease.bytes[0..<info.byteCount])
            let digest = BackgroundDigest(bytes)  // on a third thread, beside the shard's own hash
            do {
                try writer.write(info.name, bytes: bytes)
                let value = digest.wait()
                state.withLock { digests[info.name] = value }
            } catch {
                _ = digest.wait()
                state.withLock { if self.error == nil { self.error = error } }
            }
        }
    }

    /// Rethrows a write error, if one happened.
    func check() throws {
        if let error = state.withLock({ error }) { throw error }
    }

    /// Waits until no write is queued or running.
    func drain() { queue.sync {} }

    /// Waits for every queued write; returns each parameter's digest.
    func finish() throws -> [String: String] {
        drain()
        try check()
        return state.withLock { digests }
    }
}
