@testable import MM1Reference
import Foundation
import Testing

/// The forward pass's worker pool under churn: many short jobs of varying sizes back to back (as the
/// hundreds of parallel regions of a forward pass are), each iteration run exactly once, and no job
/// returning before all its iterations are done.
@Suite struct WorkerPoolTests {
    @Test("20,000 back-to-back jobs of 2–9 iterations: every iteration exactly once, all done before run returns")
    func churn() {
        // A pthread-backed lock rather than Synchronization.Mutex: ThreadSanitizer cannot see the futex
        // under Mutex on Linux and would report the counter updates as races.
        let counts = Counts()
        for round in 0..<20_000 {
            let n = 2 + round % 8
            WorkerPool.shared.run(n) { i in counts.withLock { $0[i] += 1 } }
            let done = counts.withLock { c -> Bool in
                defer { for i in 0..<n { c[i] = 0 } }
                return c[0..<n].allSatisfy { $0 == 1 } && c[n...].allSatisfy { $0 == 0 }
            }
            if !done { Issue.record("round \(round): iterations ran \(counts.withLock { Array($0[0..<n]) }) times") ; return }
        }
    }
}

/// Counters behind an NSLock, with Mutex's `withLock` shape.
final class Counts: @unchecked Sendable {
    private let lock = NSLock()
    private var values = [Int](repeating: 0, count: 16)
    func withLock<R>(_ body: (inout [Int]) -> R) -> R { lock.withLock { body(&values) } }
}
