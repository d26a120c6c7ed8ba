import DagCBOR
import Store

/// Writes that arrive while a synced write is under way wait and go out together in the next one:
/// one disk flush for many appends, each acknowledged only once it is on disk.
actor GroupCommitter {
    private let blockstore: Blockstore
    private var pending: [(blocks: [Block], batch: WriteBatch, done: CheckedContinuation<Void, any Error>)] = []
    private var running = false

    init(blockstore: Blockstore) {
        self.blockstore = blockstore
    }

    func commit(_ blocks: [Block], _ batch: WriteBatch) async throws {
        try await withCheckedThrowingContinuation { continuation in
            pending.append((blocks, batch, continuation))
            if !running {
                running = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !pending.isEmpty {
            let group = pending
            pending = []
            var blocks: [Block] = []
            var batch = WriteBatch()
            for item in group {
                blocks += item.blocks
                batch.append(contentsOf: item.batch)
            }
            do {
                try blockstore.put(blocks, alongWith: batch, sync: true, new: true)
                for item in group { item.done.resume() }
            } catch {
                for item in group { item.done.resume(throwing: error) }
            }
            // Let appends made during the write join the next group.
            await Task.yield()
        }
        running = false
    }
}
