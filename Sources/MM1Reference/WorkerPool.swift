import CKernels
import Foundation
import MM1Tensor
import Synchronization

/// The forward pass's threads: the caller plus `ProcessorCount.active − 1` persistent workers that
/// spin briefly between jobs before they sleep. A forward pass runs a few hundred short parallel
/// regions (one per GEMM, norm, activation); waking a sleeping thread for each (as
/// `DispatchQueue.concurrentPerform` does) costs tens of microseconds and often leaves one core idle
/// while the other finishes, which is what OpenMP's spin-wait (PyTorch's threads) avoids.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(threads: ProcessorCount.active)

    let threads: Int
    private let generation = Atomic<Int>(0)
    /// `generation << 40 | iteration count << 20 | next unclaimed iteration`, in one word: a worker late
    /// for one job can never claim an iteration of the next, nor read the next job's count as its own.
    private let ticket = Atomic<Int>(0)
    private static let field = (1 << 20) - 1
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private let condition = NSCondition()
    // Written by the caller before `generation` is bumped, read by workers after they see the bump.
    private nonisolated(unsafe) var job: ((Int) -> Void)?

    private init(threads: Int) {
        self.threads = max(1, threads)
        for _ in 1..<self.threads {
            let thread = Thread { [unowned self] in self.workerLoop() }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Calls `body(i)` for every `i` in `0..<count`, on the caller and the workers; returns when all
    /// are done. A call made while the pool is already running a job (a nested region) runs serially.
    func run(_ count: Int, _ body: @escaping (Int) -> Void) {
        guard threads > 1, count > 1, count <= Self.field, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for i in 0..<count { body(i) }
            return
        }
        do {
            job = body
            finished.store(0, ordering: .relaxed)
            let g = (generation.load(ordering: .relaxed) + 1) & 0x7F_FFFF
            ticket.store(g << 40 | count << 20, ordering: .releasing)
            generation.store(g, ordering: .releasing)
            if sleepers.load(ordering: .acquiring) > 0 {
                condition.lock()
                condition.broadcast()
                condition.unlock()
            }
            work(g)
            while finished.load(ordering: .acquiring) < count { spinHint() }
            job = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// Claims and runs iterations of job `g` until none are left (or job `g` is over).
    private func work(_ g: Int) {
        while true {
            let t = ticket.load(ordering: .acquiring)
            let (i, count) = (t & Self.field, (t >> 20) & Self.field)
            guard t >> 40 == g, i < count else { return }
            guard ticket.compareExchange(expected: t, desired: t + 1, ordering: .acquiringAndReleasing).exchanged else { continue }
            // Iteration i of job g is claimed and not finished, so the caller still waits and `job` is job g's.
            job!(i)
            finished.add(1, ordering: .releasing)
        }
    }

    private func workerLoop() {
        var seen = generation.load(ordering: .acquiring)
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < 20_000 { spinHint(); continue }  // about a millisecond of pauses
                condition.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { condition.wait() }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                condition.unlock()
            }
            seen = generation.load(ordering: .acquiring)
            work(seen)
        }
    }

    @inline(__always) private func spinHint() { mm1_spin_pause() }
}
