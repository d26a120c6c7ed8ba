import DagCBOR
import Foundation
import Logging
import Multiformats
import Store
import Transport

/// Finds providers of content (the node backs this with the DHT).
public protocol ProviderRouting: Sendable {
    /// Peers that announced `cid`, with where to dial them.
    func findProviders(_ cid: CID, wanted: Int) async -> [(peer: PeerID, addresses: [Multiaddr])]
}

/// The bitswap-like block exchange of Specs/exchange.md: serves the blocks peers want from the
/// blockstore, and fetches whole DAGs from many peers in sessions.
public actor Exchange {
    public static let protocolName = "/threads/exchange/1"

    public struct Options: Sendable {
        /// Wants kept per peer (ready and parked together); more are dropped and counted.
        public var maxWantsPerPeer = 8192
        /// Block bytes packed into one message to a peer; a message is sent (and its write
        /// awaited) before the next is built, so about this much is outstanding per peer.
        public var maxMessageBytes = 1 << 20
        /// A want-have for a block this small is answered with the block itself.
        public var inlineBlockLimit = 1024
        /// Blocks a session keeps requested at once.
        public var sessionWindow = 128
        /// Shortest and longest time a session waits for a requested block before asking another
        /// peer; in between, the time follows the peer's measured latency.
        public var minimumTimeout: Duration = .seconds(2)
        public var maximumTimeout: Duration = .seconds(30)
        /// A fetch that gets no block for this long, while it waits for some and no provider
        /// search runs, fails with `stalled`: its peers hold the blocks and do not send them
        /// (overloaded, or hostile), and re-asking them would go on for good.
        public var stallLimit: Duration = .seconds(120)
        public var logger = Logger(label: "threads.exchange")

        public init() {}
    }

    public nonisolated let blockstore: Blockstore
    public nonisolated let options: Options
    let manager: ConnectionManager
    let routing: (any ProviderRouting)?

    var ledgers: [PeerID: Ledger] = [:]
    /// Client wants and cancels waiting to go out, per peer, in order.
    var outgoingWants: [PeerID: [ExchangeMessage.Want]] = [:]
    var sending: Set<PeerID> = []
    var sessions: [Int: SessionState] = [:]
    var nextSession = 0
    var eventsTask: Task<Void, Never>?
    /// Per-peer queues between the connection and the processing task.
    var inboxes: [PeerID: Inbox] = [:]

    /// Blocks received that no session wanted or that were already stored.
    public private(set) var duplicateBlocks = 0
    public private(set) var unsolicitedBlocks = 0

    public init(
        blockstore: Blockstore,
        manager: ConnectionManager,
        routing: (any ProviderRouting)? = nil,
        options: Options = Options()
    ) {
        self.blockstore = blockstore
        self.manager = manager
        self.routing = routing
        self.options = options
    }

    /// Registers the protocol with the connection's handlers. The exchange is made after the
    /// connection manager (which needs the handlers), so the handler reaches it through `slot`.
    public static func register(in protocols: inout MuxProtocols, slot: Slot<Exchange>) {
        protocols.handleOrderedMessages(protocolName) { request in
            guard let exchange = slot.value else { return }
            await exchange.receiveRaw(request.payload, from: request.remotePeer)
        }
    }

    /// Follows connects and disconnects (a peer that leaves has its requests sent elsewhere).
    public func start() async {
        guard eventsTask == nil else { return }
        let events = await manager.events()
        eventsTask = Task { [weak self] in
            for await event in events {
                guard let self else { return }
                switch event {
                case .disconnected(let peer): await self.peerLeft(peer)
                case .connected(let peer, _): await self.peerJoined(peer)
                }
            }
        }
    }

    public func stop() {
        eventsTask?.cancel()
        eventsTask = nil
        for inbox in inboxes.values { Task { await inbox.close() } }
        inboxes.removeAll()
        for id in Array(sessions.keys) { finishSession(id, with: ExchangeError.cancelled) }
    }

    // MARK: - Receiving

    /// Hands a message from `peer` to its processing task, waiting only when too much is queued.
    nonisolated func receiveRaw(_ payload: [UInt8], from peer: PeerID) async {
        await inbox(for: peer).push(payload)
    }

    /// The inbox of `peer`, with a task that drains it in order.
    func inbox(for peer: PeerID) -> Inbox {
        if let inbox = inboxes[peer] { return inbox }
        let inbox = Inbox(limit: 4 * options.maxMessageBytes)
        inboxes[peer] = inbox
        Task { [weak self] in
            while let batch = await inbox.take() {
                for payload in batch { await self?.process(payload, from: peer, via: inbox) }
            }
        }
        return inbox
    }

    /// Parses and checks a message off the actor (hashing blocks is the expensive part), then
    /// applies it, unless `peer` left since `inbox` handed it over.
    nonisolated func process(_ payload: [UInt8], from peer: PeerID, via inbox: Inbox) async {
        let message: ExchangeMessage
        do {
            message = try ExchangeMessage(decoding: payload)
        } catch {
            options.logger.notice("dropping exchange message", metadata: ["peer": "\(peer)", "reason": "\(error)"])
            return
        }
        var good: [Block] = []
        var corrupt: [CID] = []
        for (cid, data) in message.blocks {
            if let block = try? Block(cid: cid, bytes: data) { good.append(block) } else { corrupt.append(cid) }
        }
        await receive(message, verified: good, corrupt: corrupt, from: peer, via: inbox, size: payload.count)
    }

    func receive(
        _ message: ExchangeMessage,
        verified: [Block],
        corrupt: [CID],
        from peer: PeerID,
        via inbox: Inbox,
        size: Int
    ) {
        // A batch taken from the inbox before the peer left is still being worked through:
        // applying it would bring back the ledger `peerLeft` dropped, for good.
        guard inboxes[peer] === inbox else { return }
        ledgers[peer, default: Ledger()].bytesReceived += UInt64(size)
        for want in message.wants {
            _ = ledgers[peer, default: Ledger()].apply(want, cap: options.maxWantsPerPeer)
        }
        for cid in corrupt {
            ledgers[peer, default: Ledger()].corruptBlocks += 1
            options.logger.warning("corrupt block", metadata: ["peer": "\(peer)", "cid": "\(cid)"])
            sessionsCorrupt(cid, from: peer)
        }
        var stored: [CID] = []
        var toStore: [Block] = []
        for block in verified {
            ledgers[peer, default: Ledger()].blocksReceived += 1
            guard isWanted(block.cid) else {
                unsolicitedBlocks += 1
                continue
            }
            if (try? blockstore.has(block.cid)) == true {
                duplicateBlocks += 1
                sessionsDuplicate(block.cid)
                continue
            }
            toStore.append(block)
        }
        if !toStore.isEmpty {
            do {
                try blockstore.put(toStore)
                stored = toStore.map(\.cid)
            } catch {
                options.logger.error("cannot store blocks", metadata: ["reason": "\(error)"])
            }
        }
        for block in toStore where stored.contains(block.cid) {
            sessionsReceived(block, from: peer)
        }
        for (cid, presence) in message.presences {
            sessionsPresence(cid, presence, from: peer)
        }
        if !stored.isEmpty { blocksAdded(stored) }
        if !message.wants.isEmpty { kick(peer) }
    }

    /// Blocks that became available locally: answer parked wants for them.
    public func blocksAdded(_ cids: [CID]) {
        for peer in Array(ledgers.keys) {
            var woke = false
            for cid in cids where ledgers[peer]?.unpark(cid) == true { woke = true }
            if woke { kick(peer) }
        }
    }

    // MARK: - Sending

    /// Queues want-list entries for `peer`; they go out in order with the next message.
    func queue(_ wants: [ExchangeMessage.Want], to peer: PeerID) {
        guard !wants.isEmpty else { return }
        outgoingWants[peer, default: []].append(contentsOf: wants)
        kick(peer)
    }

    /// Makes sure a send loop runs for `peer` (one at most, so messages keep their order).
    func kick(_ peer: PeerID) {
        guard !sending.contains(peer) else { return }
        sending.insert(peer)
        Task { await self.sendLoop(peer) }
    }

    private func sendLoop(_ peer: PeerID) async {
        defer { sending.remove(peer) }
        while true {
            let message = nextMessage(for: peer)
            guard !message.isEmpty else { return }
            guard let connection = await manager.connection(to: peer) else {
                peerLeft(peer)
                return
            }
            let bytes = message.encoded()
            do {
                try await connection.message(Self.protocolName, bytes)
                // The peer may have left while the write was under way; counting the message then
                // would bring back the ledger `peerLeft` dropped.
                guard await manager.connection(to: peer) === connection else { continue }
                ledgers[peer, default: Ledger()].bytesSent += UInt64(bytes.count)
                ledgers[peer, default: Ledger()].blocksSent += message.blocks.count
            } catch {
                options.logger.info("exchange send failed", metadata: ["peer": "\(peer)", "reason": "\(error)"])
                peerLeft(peer)
                return
            }
        }
    }

    /// The next message to `peer`: queued client wants, then answers to its ready wants, blocks up
    /// to `maxMessageBytes`.
    func nextMessage(for peer: PeerID) -> ExchangeMessage {
        var message = ExchangeMessage()
        if let wants = outgoingWants.removeValue(forKey: peer) {
            message.wants = Array(wants.prefix(ExchangeMessage.maxEntries))
            if wants.count > ExchangeMessage.maxEntries {
                outgoingWants[peer] = Array(wants.dropFirst(ExchangeMessage.maxEntries))
            }
        }
        guard var ledger = ledgers[peer], !ledger.ready.isEmpty else { return message }
        var bytes = 0
        entries: for entry in ledger.readyInOrder() {
            if bytes >= options.maxMessageBytes || message.presences.count >= ExchangeMessage.maxEntries
                || message.blocks.count >= ExchangeMessage.maxEntries
            {
                break
            }
            let cid = entry.want.cid
            ledger.ready[cid] = nil
            switch entry.want.kind {
            case .cancel:
                continue
            case .wantBlock:
                if let data = try? blockstore.get(cid) {
                    // A block larger than what is left of the budget waits for the next message,
                    // unless the message is still empty (a 2 MiB block must go out somehow).
                    if bytes > 0 && bytes + data.count > options.maxMessageBytes {
                        ledger.ready[cid] = entry
                        break entries
                    }
                    message.blocks.append((cid, data))
                    bytes += data.count
                    continue
                }
            case .wantHave:
                if let size = (try? blockstore.size(of: cid)) ?? nil {
                    if size <= options.inlineBlockLimit, let data = try? blockstore.get(cid) {
                        message.blocks.append((cid, data))
                        bytes += data.count
                    } else {
                        message.presences.append((cid, .have))
                    }
                    continue
                }
            }
            if entry.want.sendDontHave {
                message.presences.append((cid, .dontHave))
            } else if entry.want.kind == .wantBlock {
                ledger.parked[cid] = entry  // answered when the block arrives
            }
        }
        ledgers[peer] = ledger
        return message
    }

    // MARK: - Peers

    func peerJoined(_ peer: PeerID) {
        for id in Array(sessions.keys) { sessionPeerJoined(id, peer) }
    }

    func peerLeft(_ peer: PeerID) {
        if let inbox = inboxes.removeValue(forKey: peer) { Task { await inbox.close() } }
        ledgers[peer] = nil
        outgoingWants[peer] = nil
        for id in Array(sessions.keys) { sessionPeerLeft(id, peer) }
    }

    /// The ledger of `peer`, if it has one.
    public func ledger(of peer: PeerID) -> LedgerSummary? {
        guard let ledger = ledgers[peer] else { return nil }
        return LedgerSummary(
            peer: peer,
            bytesSent: ledger.bytesSent,
            bytesReceived: ledger.bytesReceived,
            blocksSent: ledger.blocksSent,
            blocksReceived: ledger.blocksReceived,
            corruptBlocks: ledger.corruptBlocks,
            queuedWants: ledger.wantCount,
            droppedWants: ledger.droppedWants
        )
    }

    public var ledgerSummaries: [LedgerSummary] { ledgers.keys.sorted().compactMap { ledger(of: $0) } }
}
