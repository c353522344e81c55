import Foundation
import MM1Formats
import MM1TestSupport
import Testing

/// Outputs go through two staging buffers, written beside the caller, with direct I/O where the file
/// system allows it and through the page cache for the last partial block (and where it does not).
/// A write that fails on the writing thread (a full disk) is `CrashSafetyTests`' `ulimit -f` case.
@Suite struct AtomicFileTests {
    /// Folders on the disk the tests run on, and on tmpfs (which may refuse direct I/O) when there is one.
    static func folders() throws -> [TemporaryDirectory] {
        var folders = [try TemporaryDirectory("mm1conv-atomic")]
        if FileManager.default.isWritableFile(atPath: "/dev/shm") { folders.append(try TemporaryDirectory("mm1conv-atomic", in: "/dev/shm")) }
        return folders
    }

    @Test("every size around the block and buffer boundaries, written in uneven pieces, reads back exactly with its SHA-256",
          arguments: [0, 1, 4095, 4096, 4097, (4 << 20) - 1, 4 << 20, (4 << 20) + 1, (8 << 20) + 4096, (9 << 20) + 123])
    func sizes(size: Int) throws {
        var state: UInt64 = UInt64(size) &+ 0x9E37_79B9_7F4A_7C15
        let bytes = (0..<size).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        for folder in try Self.folders() {
            defer { folder.remove() }
            let path = folder.file("out.bin")
            let file = try AtomicFile(path: path)
            var offset = 0, piece = 1
            while offset < size {  // pieces of 1, 3, 7, … bytes, then large ones
                let n = min(size - offset, piece)
                try bytes[offset..<(offset + n)].withUnsafeBytes { try file.write($0) }
                offset += n
                piece = piece * 2 + 1
            }
            #expect(!FileManager.default.fileExists(atPath: path))
            try file.commit()
            let read = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(read == bytes, "\(folder.path)")
            #expect(file.sha256 == bytes.withUnsafeBytes { Hashing.sha256($0) })
            #expect(file.bytesWritten == size)
            #expect(folder.contents() == ["out.bin"])  // no temporary left
        }
    }
}
