/// Messages from one peer waiting to be processed, in arrival order, with a byte limit.
///
/// The connection's read loop hands a message over and goes back to reading (and decrypting)
/// while a separate task hashes and stores the previous ones, so the two halves of the work run on
/// both cores. When `limit` bytes are waiting, `push` waits too, and TCP slows the peer down.
actor Inbox {
    private var queue: [[UInt8]] = []
    private var head = 0
    private var bytes = 0
    private let limit: Int
    /// Every read loop waiting for room. One peer can briefly have two connections (a replacement
    /// starts reading before the old one is closed), and a read loop left waiting here would never
    /// read again, so each of them must be woken.
    private var producers: [CheckedContinuation<Void, Never>] = []
    private var consumer: CheckedContinuation<[[UInt8]]?, Never>?
    private var closed = false

    init(limit: Int) {
        self.limit = limit
    }

    func push(_ message: [UInt8]) async {
        guard !closed else { return }
        if let consumer {
            self.consumer = nil
            consumer.resume(returning: [message])
            return
        }
        queue.append(message)
        bytes += message.count
        if bytes >= limit {
            await withCheckedContinuation { producers.append($0) }
        }
    }

    /// Everything waiting (at least one message), or nil once closed.
    func take() async -> [[UInt8]]? {
        if head < queue.count {
            let batch = Array(queue[head...])
            queue.removeAll(keepingCapacity: true)
            head = 0
            bytes = 0
            resumeProducers()
            return batch
        }
        if closed { return nil }
        return await withCheckedContinuation { consumer = $0 }
    }

    /// Ends the inbox: what is still queued is dropped, as it came from a peer that left (its
    /// ledger is gone, and applying its wants would only bring one back).
    func close() {
        closed = true
        queue.removeAll()
        head = 0
        bytes = 0
        consumer?.resume(returning: nil)
        consumer = nil
        resumeProducers()
    }

    /// Messages waiting to be taken.
    var count: Int { queue.count - head }

    private func resumeProducers() {
        let waiting = producers
        producers.removeAll()
        for producer in waiting { producer.resume() }
    }
}
