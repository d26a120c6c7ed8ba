import DagCBOR
import Dispatch
import Store
import Synchronization

/// Writes queued while a synced write is under way go out together in the next one: one disk
/// flush for many appends, each acknowledged only once it is on disk.
///
/// Queuing is synchronous, so a caller that queues under its own lock (the logstore, in log order)
/// gets its writes onto disk in exactly that order; only the wait for durability is async.
final class GroupCommitter: Sendable {
    private let blockstore: Blockstore

    private struct State {
        var queue: [(ticket: UInt64, blocks: [Block], batch: WriteBatch, head: Head?)] = []
        var running = false
        var nextTicket: UInt64 = 0
        /// Outcomes nobody waits for yet, and waiters whose write is not done.
        var results: [UInt64: Result<Void, StoreError>] = [:]
        var waiters: [UInt64: @Sendable (Result<Void, StoreError>) -> Void] = [:]
        /// Synchronous callers blocked until their write is done (its outcome goes to `results`).
        var blocked: [UInt64: DispatchSemaphore] = [:]
        /// Bumped by every failed write; see `generation`.
        var generation: UInt64 = 0
        /// Writes still to fail on purpose, as a full disk would (tests).
        var injectedFailures = 0
    }

    private let state = Mutex(State())
    /// The synced writes run here, not on the cooperative pool: a thread blocked in fdatasync
    /// there would leave one core fewer for preparing the next records while the disk flushes.
    private let writer = DispatchQueue(label: "threads.group-commit")

    init(blockstore: Blockstore) {
        self.blockstore = blockstore
    }

    /// A key that each write overwrites (a log's head): of the writes that go out together, only
    /// the last one queued is written.
    struct Head {
        let key: [UInt8]
        let value: [UInt8]
    }

    /// Counts failed writes. A record queued behind one that failed may link to it, so a failed
    /// write fails everything queued with it, and a write prepared in an earlier generation (read
    /// before queuing, under the caller's lock) is refused: the caller must start again from what
    /// is on disk. Without this, a write queued behind a failed one could land after a passing
    /// fault (a disk that was full for a moment) and leave a log whose head links to records that
    /// were never stored.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Makes the next `count` writes fail, as a full disk would (tests).
    func failNextWrites(_ count: Int) {
        state.withLock { $0.injectedFailures = count }
    }

    /// Queues a write prepared in `generation`; `wait(for:)` returns once it is durable, or throws
    /// when it failed or was prepared before a failure. With `writtenByCaller`, an idle queue is
    /// not handed to the writer thread: the caller's `waitBlocking` writes it.
    func enqueue(
        _ blocks: [Block],
        _ batch: WriteBatch,
        head: Head? = nil,
        generation: UInt64,
        writtenByCaller: Bool = false
    ) -> UInt64 {
        let (ticket, start) = state.withLock { state in
            let ticket = state.nextTicket
            state.nextTicket += 1
            guard generation == state.generation else {
                state.results[ticket] = .failure(
                    .other(path: blockstore.database.path, message: "an earlier write failed; this one was built on it")
                )
                return (ticket, false)
            }
            state.queue.append((ticket, blocks, batch, head))
            guard !state.running, !writtenByCaller else { return (ticket, false) }
            state.running = true
            return (ticket, true)
        }
        if start { writer.async { self.drain() } }
        return ticket
    }

    func wait(for ticket: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            whenDone(ticket) { continuation.resume(with: $0.mapError { $0 as any Error }) }
        }
    }

    /// Calls `body` with the outcome of `ticket`'s write once it is known: at once if it is, else
    /// from the thread that wrote it. It lets a caller that already waits for something else (an
    /// append queued for signing) learn of durability without a second suspension.
    func whenDone(_ ticket: UInt64, _ body: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        let done = state.withLock { state -> Result<Void, StoreError>? in
            if let result = state.results.removeValue(forKey: ticket) { return result }
            state.waiters[ticket] = body
            return nil
        }
        if let done { body(done) }
    }

    /// Like `wait(for:)`, blocking the calling thread: for synchronous appends, which must go
    /// through the same queue so that the disk sees every record of a log in order. When no write
    /// is under way, the caller writes the queue itself rather than wait for another thread to.
    func waitBlocking(for ticket: UInt64) throws(StoreError) {
        enum Next {
            case done(Result<Void, StoreError>)
            case write
            case wait(DispatchSemaphore)
        }
        let next = state.withLock { state -> Next in
            if let result = state.results.removeValue(forKey: ticket) { return .done(result) }
            guard state.running else {
                state.running = true
                return .write
            }
            let semaphore = DispatchSemaphore(value: 0)
            state.blocked[ticket] = semaphore
            return .wait(semaphore)
        }
        switch next {
        case .done(let result): return try result.get()
        case .write: drain(until: ticket)
        case .wait(let semaphore): semaphore.wait()
        }
        try state.withLock { $0.results.removeValue(forKey: ticket) ?? .success(()) }.get()
    }

    private func injectedFailure() throws(StoreError) {
        let fail = state.withLock { state in
            guard state.injectedFailures > 0 else { return false }
            state.injectedFailures -= 1
            return true
        }
        if fail { throw .io(path: blockstore.database.path, message: "injected write failure") }
    }

    /// Writes queued groups until the queue is empty; with `ticket` (a caller writing on its own
    /// thread), only until that write is done, leaving the rest to the writer thread.
    private func drain(until ticket: UInt64? = nil) {
        while true {
            let group = state.withLock { state in
                let group = state.queue
                state.queue = []
                if group.isEmpty { state.running = false }
                return group
            }
            guard !group.isEmpty else { return }
            var blocks: [Block] = []
            var batch = WriteBatch()
            var heads: [[UInt8]: [UInt8]] = [:]
            for item in group {
                blocks += item.blocks
                batch.append(contentsOf: item.batch)
                if let head = item.head { heads[head.key] = head.value }
            }
            for (key, value) in heads { batch.put(key, value) }
            let result: Result<Void, StoreError>
            do {
                try injectedFailure()
                try blockstore.put(blocks, alongWith: batch, sync: true, new: true)
                result = .success(())
            } catch {
                result = .failure(error)
            }
            let (ready, unblocked) = state.withLock { state in
                var unblocked: [DispatchSemaphore] = []
                var done = group
                if case .failure = result {
                    // What was queued meanwhile may link to what just failed: it fails too.
                    state.generation += 1
                    done += state.queue
                    state.queue = []
                }
                let ready = done.compactMap { item -> (@Sendable (Result<Void, StoreError>) -> Void)? in
                    if let waiter = state.waiters.removeValue(forKey: item.ticket) { return waiter }
                    state.results[item.ticket] = result
                    if let semaphore = state.blocked.removeValue(forKey: item.ticket) { unblocked.append(semaphore) }
                    return nil
                }
                return (ready, unblocked)
            }
            for waiter in ready { waiter(result) }
            for semaphore in unblocked { semaphore.signal() }
            // The caller's own write is done (written, or failed with a group before it).
            if let ticket, state.withLock({ $0.results[ticket] != nil }) {
                let more = state.withLock { state in
                    if state.queue.isEmpty { state.running = false }
                    return !state.queue.isEmpty
                }
                if more { writer.async { self.drain() } }
                return
            }
        }
    }
}
