import Multiformats

/// What one peer asked of this node and what passed between them.
///
/// Wants are split in two: `ready` (to look at on the next send) and `parked` (want-blocks for
/// blocks this node lacks, answered when the block arrives). Both together are capped, so a peer
/// flooding want-lists costs a bounded amount of memory.
struct Ledger: Sendable {
    struct Entry: Sendable {
        var want: ExchangeMessage.Want
        /// Arrival order, to serve equal priorities first come first served.
        var order: UInt64
    }

    var ready: [CID: Entry] = [:]
    var parked: [CID: Entry] = [:]
    private var nextOrder: UInt64 = 0

    var bytesSent: UInt64 = 0
    var bytesReceived: UInt64 = 0
    var blocksSent = 0
    var blocksReceived = 0
    /// Blocks from this peer that did not match their CID.
    var corruptBlocks = 0
    /// Wants dropped because the peer had too many queued.
    var droppedWants = 0

    var wantCount: Int { ready.count + parked.count }

    /// Applies a want-list entry; returns false when the cap made it drop a new want.
    mutating func apply(_ want: ExchangeMessage.Want, cap: Int) -> Bool {
        switch want.kind {
        case .cancel:
            ready[want.cid] = nil
            parked[want.cid] = nil
            return true
        case .wantHave, .wantBlock:
            if let existing = ready[want.cid] ?? parked[want.cid] {
                // An upgrade (have → block) or a new priority replaces the entry in place.
                parked[want.cid] = nil
                ready[want.cid] = Entry(want: want, order: existing.order)
                return true
            }
            guard wantCount < cap else {
                droppedWants += 1
                return false
            }
            ready[want.cid] = Entry(want: want, order: nextOrder)
            nextOrder += 1
            return true
        }
    }

    /// The ready wants, highest priority first, then oldest first.
    func readyInOrder() -> [Entry] {
        ready.values.sorted { a, b in
            a.want.priority != b.want.priority ? a.want.priority > b.want.priority : a.order < b.order
        }
    }

    /// A parked want whose block arrived becomes ready again.
    mutating func unpark(_ cid: CID) -> Bool {
        guard let entry = parked.removeValue(forKey: cid) else { return false }
        ready[cid] = entry
        return true
    }
}

/// Counters of one peer's ledger, for `threads exchange ledger` and tests.
public struct LedgerSummary: Sendable, Equatable {
    public let peer: PeerID
    public let bytesSent: UInt64
    public let bytesReceived: UInt64
    public let blocksSent: Int
    public let blocksReceived: Int
    public let corruptBlocks: Int
    public let queuedWants: Int
    public let droppedWants: Int
}
