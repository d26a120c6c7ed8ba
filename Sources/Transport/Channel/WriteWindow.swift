import NIOCore
import Synchronization

/// Bounds the plaintext a connection has taken for sending but not yet handed to the kernel.
///
/// NIO's async writer stops a producer only once the channel reports itself unwritable, and the
/// channel finds that out on its event loop, after sealing everything queued before. A producer
/// faster than the cipher could therefore queue a whole transfer in memory (a 1 GiB send once
/// held about 1 GiB). Here a write first takes room in a window of `limit` bytes, and gives it
/// back when its bytes have reached the socket, so a slow link or a slow reader holds the sender
/// at about `limit` bytes queued.
final class WriteWindow: Sendable {
    private struct Waiter {
        let id: UInt64
        let size: Int
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var inFlight = 0
        /// Waiting writers, first come first served, so a stream of small writes cannot starve a
        /// large one.
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        /// Set once a write has failed: the connection is unusable from then on.
        var failure: TransportError?

        /// A write larger than the whole window goes alone.
        func fits(_ size: Int, limit: Int) -> Bool { inFlight == 0 || inFlight + size <= limit }
    }

    /// Bytes that may be queued below the writer at once.
    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    /// Writes and flushes `buffer` once the window has room for it. Returns when the write is
    /// queued on the channel, not when it is sent; a failed write fails the writes after it.
    func write(_ buffer: ByteBuffer, to channel: any Channel) async throws {
        let size = buffer.readableBytes
        try await acquire(size)
        channel.writeAndFlush(buffer).whenComplete { result in
            self.release(size, failed: (try? result.get()) == nil)
        }
    }

    private func acquire(_ size: Int) async throws {
        let id: UInt64? = try state.withLock { state throws(TransportError) -> UInt64? in
            if let failure = state.failure { throw failure }
            if state.waiters.isEmpty && state.fits(size, limit: limit) {
                state.inFlight += size
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready: Result<Void, any Error>? = state.withLock { state in
                    // The window may have freed, or failed, since the check above.
                    if let failure = state.failure { return .failure(failure) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.waiters.isEmpty && state.fits(size, limit: limit) {
                        state.inFlight += size
                        return .success(())
                    }
                    state.waiters.append(Waiter(id: id, size: size, continuation: continuation))
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
            // The cancelled writer may have been the one holding back those behind it.
            resumeAdmitted()
        }
    }

    private func release(_ size: Int, failed: Bool) {
        let rejected: [Waiter] = state.withLock { state in
            state.inFlight -= size
            guard failed else { return [] }
            state.failure = state.failure ?? .connectionClosed
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in rejected { waiter.continuation.resume(throwing: TransportError.connectionClosed) }
        resumeAdmitted()
    }

    /// Admits waiting writers, in order, while the window has room.
    private func resumeAdmitted() {
        let admitted: [Waiter] = state.withLock { state in
            var admitted: [Waiter] = []
            while let first = state.waiters.first, state.fits(first.size, limit: limit) {
                state.inFlight += first.size
                admitted.append(state.waiters.removeFirst())
            }
            return admitted
        }
        for waiter in admitted { waiter.continuation.resume() }
    }
}
