#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A writable buffer for one tensor, taken straight from the kernel (anonymous `mmap`) and given
/// back with `munmap` when released.
///
/// Streaming writers allocate one tensor-sized buffer after another. Through `malloc`, glibc's
/// dynamic mmap threshold moves buffers of up to 32 MiB onto the heap after the first one is freed,
/// and the heap then grows with fragmentation (seen: 1.2 GB resident for 65 MB buffers); mapping
/// them directly keeps resident memory at the buffers alive.
package final class PageBuffer: @unchecked Sendable {
    package let bytes: UnsafeMutableRawBufferPointer
    private let mapped: Bool

    package init(byteCount: Int) {
        if byteCount >= 1 << 20,
           let p = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED {
            bytes = UnsafeMutableRawBufferPointer(start: p, count: byteCount)
            mapped = true
        } else {
            bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, byteCount), alignment: 64)
            mapped = false
        }
    }


    /// Gives back the pages after the first `byteCount` bytes (they read as zeros if touched again): a
    /// reused buffer then holds no more memory than the tensor it holds now.
    package func releasePages(after byteCount: Int) {
        guard mapped else { return }
        let page = pageSize
        let start = min(bytes.count, (byteCount + page - 1) / page * page)
        guard start < bytes.count else { return }
        _ = madvise(bytes.baseAddress! + start, bytes.count - start, MADV_DONTNEED)
    }

    deinit {
        if mapped { munmap(bytes.baseAddress, bytes.count) } else { bytes.deallocate() }
    }
}
