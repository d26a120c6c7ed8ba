import DagCBOR
import Foundation
import Multiformats
import Store
import Transport

/// How far a fetch got.
public struct FetchProgress: Sendable, Equatable {
    /// Blocks of the DAG now stored locally (fetched or already there).
    public var blocks = 0
    /// Bytes of those blocks, each counted once: a file that repeats a chunk (runs of zeros)
    /// stores it once, so this can end below `totalBytes`.
    public var bytes: UInt64 = 0
    /// Blocks that came over the network.
    public var fetchedBlocks = 0
    /// The file's size, once the root file node is known.
    public var totalBytes: UInt64?
    /// Peers that delivered at least one block.
    public var peers = 0

    public init() {}
}

struct SessionPeer {
    var inFlight = 0
    /// Seconds from want-block to block, smoothed.
    var latency: Double?
    var delivered = 0
    var lacksRoot = false
    var penalized = false
}

struct PendingRequest {
    var peer: PeerID
    var sentAt: ContinuousClock.Instant
    var tried: Set<PeerID>
    var askedHave: Set<PeerID> = []
}

/// One fetch's state. A class: the stack of a large file's blocks is long, and a struct in the
/// sessions dictionary would be copied on every change.
final class SessionState {
    let root: CID
    var peers: [PeerID: SessionPeer] = [:]
    /// Peers that said dont-have, kept only for blocks requested or parked (anything else would
    /// let any peer grow it at will) and only while those peers are connected.
    var lacking: [CID: Set<PeerID>] = [:]
    /// Blocks still to request, last = next (depth-first order).
    var stack: [CID] = []
    /// Every block ever put on the stack. A DAG may link one block from many places (a hostile
    /// one, thousands of times over a few levels); each is requested, counted and walked once.
    var seen: Set<CID> = []
    var inFlight: [CID: PendingRequest] = [:]
    /// Blocks no current peer can give; retried when peers join.
    var parked: [CID] = []
    var priority: UInt32 = .max
    var progress = FetchProgress()
    var report: @Sendable (FetchProgress) -> Void
    var completion: CheckedContinuation<FetchProgress, any Error>?
    var timer: Task<Void, Never>?
    var searching = false
    var searched = false
    /// When the session last got a block (or new peers to ask): see `Options.stallLimit`.
    var lastProgress = ContinuousClock.now

    init(root: CID, report: @escaping @Sendable (FetchProgress) -> Void) {
        self.root = root
        self.report = report
    }
}

extension Exchange {
    /// Fetches the DAG under `root` into the blockstore: walks links as blocks arrive, keeps
    /// `sessionWindow` blocks requested, asks connected peers first and the DHT's providers when
    /// they do not have it. Every block is checked against its CID before it is stored.
    public func fetch(
        _ root: CID,
        progress: @escaping @Sendable (FetchProgress) -> Void = { _ in }
    ) async throws -> FetchProgress {
        let id = nextSession
        nextSession += 1
        let connected = await manager.connectedPeers
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let state = SessionState(root: root, report: progress)
                state.completion = continuation
                for peer in connected { state.peers[peer] = SessionPeer() }
                state.stack = [root]
                state.seen = [root]
                sessions[id] = state
                state.timer = Task { [weak self] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(250))
                        await self?.checkTimeouts(id)
                    }
                }
                if connected.isEmpty { startProviderSearch(id, for: root) }
                pump(id)
            }
        } onCancel: {
            Task { await self.finishSession(id, with: ExchangeError.cancelled) }
        }
    }

    /// The bytes of a block: from the blockstore, else fetched (with its links) from the network.
    public func block(_ cid: CID) async throws -> [UInt8] {
        if let bytes = try blockstore.get(cid) { return bytes }
        _ = try await fetch(cid)
        guard let bytes = try blockstore.get(cid) else { throw ExchangeError.notFound(cid) }
        return bytes
    }

    func isWanted(_ cid: CID) -> Bool {
        sessions.values.contains { $0.inFlight[cid] != nil || $0.parked.contains(cid) }
    }

    /// Dont-have answers remembered by all sessions (peer and block pairs), for tests.
    var lackingCount: Int {
        sessions.values.reduce(0) { total, state in total + state.lacking.values.reduce(0) { $0 + $1.count } }
    }

    // MARK: - Requesting

    /// Requests blocks from the stack until the window is full; finishes the session when nothing
    /// is left.
    func pump(_ id: Int) {
        guard let state = sessions[id] else { return }
        while state.inFlight.count < options.sessionWindow, let cid = state.stack.popLast() {
            if state.inFlight[cid] != nil { continue }
            if let bytes = try? blockstore.get(cid) {
                account(state, cid: cid, bytes: bytes, fetched: false)
                continue
            }
            request(id, cid)
            guard sessions[id] != nil else { return }
        }
        if state.stack.isEmpty && state.inFlight.isEmpty && state.parked.isEmpty {
            finishSession(id, with: nil)
        } else if state.inFlight.isEmpty && !state.parked.isEmpty && state.searched && !state.searching {
            finishSession(id, with: ExchangeError.notFound(state.parked[0]))
        }
    }

    /// Records a block of the DAG as present and queues its links.
    private func account(_ state: SessionState, cid: CID, bytes: [UInt8], fetched: Bool) {
        state.lastProgress = .now
        state.progress.blocks += 1
        if cid.codec == Multicodec.raw { state.progress.bytes += UInt64(bytes.count) }
        if fetched { state.progress.fetchedBlocks += 1 }
        if cid == state.root, let node = try? FileDAG.Node(cid: cid, bytes: bytes) {
            state.progress.totalBytes = node.size
        }
        for link in FileDAG.links(of: cid, bytes: bytes).reversed() where state.seen.insert(link).inserted {
            state.stack.append(link)
        }
        state.report(state.progress)
    }

    /// Sends a want-block for `cid` to the best peer that may have it (and, for the root,
    /// want-haves to the others), or parks it and (with `search`) searches for providers.
    func request(_ id: Int, _ cid: CID, excluding: Set<PeerID> = [], search: Bool = true) {
        guard let state = sessions[id] else { return }
        let lacking = state.lacking[cid] ?? []
        let candidates = state.peers.filter { peer, info in
            !info.penalized && !lacking.contains(peer) && !excluding.contains(peer)
        }
        guard
            let best = candidates.min(by: {
                score($0.value) < score($1.value)
            })?
            .key
        else {
            if !state.parked.contains(cid) { state.parked.append(cid) }
            if search { startProviderSearch(id, for: cid) }
            return
        }
        state.priority = state.priority > 0 ? state.priority - 1 : 0
        var pending = PendingRequest(peer: best, sentAt: .now, tried: (state.inFlight[cid]?.tried ?? []).union([best]))
        state.peers[best]?.inFlight += 1
        queue(
            [ExchangeMessage.Want(cid: cid, kind: .wantBlock, priority: state.priority, sendDontHave: true)],
            to: best
        )
        if cid == state.root {
            for peer in candidates.keys where peer != best {
                pending.askedHave.insert(peer)
                queue(
                    [ExchangeMessage.Want(cid: cid, kind: .wantHave, priority: state.priority, sendDontHave: true)],
                    to: peer
                )
            }
        }
        state.inFlight[cid] = pending
        state.parked.removeAll { $0 == cid }
    }

    /// Lower is better: fewer blocks outstanding with a faster peer.
    private func score(_ peer: SessionPeer) -> Double {
        let latency = peer.latency ?? 0.05
        return Double(peer.inFlight + 1) * latency * (peer.lacksRoot ? 100 : 1)
    }

    // MARK: - Answers

    func sessionsReceived(_ block: Block, from peer: PeerID) {
        for id in Array(sessions.keys) {
            guard let state = sessions[id] else { continue }
            guard let pending = state.inFlight.removeValue(forKey: block.cid) else {
                if state.parked.contains(block.cid) {
                    state.parked.removeAll { $0 == block.cid }
                    state.lacking[block.cid] = nil
                    account(state, cid: block.cid, bytes: block.bytes, fetched: true)
                    pump(id)
                }
                continue
            }
            state.peers[pending.peer]?.inFlight -= 1
            state.lacking[block.cid] = nil
            if pending.peer == peer {
                let seconds = Self.seconds(.now - pending.sentAt)
                let previous = state.peers[peer]?.latency ?? seconds
                state.peers[peer]?.latency = previous * 0.8 + seconds * 0.2
            } else {
                queue([ExchangeMessage.Want(cid: block.cid, kind: .cancel)], to: pending.peer)
            }
            for other in pending.askedHave where other != peer {
                queue([ExchangeMessage.Want(cid: block.cid, kind: .cancel)], to: other)
            }
            if state.peers[peer] == nil { state.peers[peer] = SessionPeer() }
            if state.peers[peer]?.delivered == 0 { state.progress.peers += 1 }
            state.peers[peer]?.delivered += 1
            account(state, cid: block.cid, bytes: block.bytes, fetched: true)
            pump(id)
        }
    }

    func sessionsPresence(_ cid: CID, _ presence: ExchangeMessage.Presence, from peer: PeerID) {
        for id in Array(sessions.keys) {
            guard let state = sessions[id] else { continue }
            switch presence {
            case .have:
                if state.peers[peer] == nil { state.peers[peer] = SessionPeer() }
                if cid == state.root { state.peers[peer]?.lacksRoot = false }
                state.lacking[cid]?.remove(peer)
                if state.parked.contains(cid) { request(id, cid) }
            case .dontHave:
                guard state.inFlight[cid] != nil || state.parked.contains(cid) else { continue }
                state.lacking[cid, default: []].insert(peer)
                if cid == state.root { state.peers[peer]?.lacksRoot = true }
                guard let pending = state.inFlight[cid], pending.peer == peer else {
                    continue
                }
                state.inFlight[cid] = nil
                state.peers[peer]?.inFlight -= 1
                request(id, cid)
                pump(id)
            }
        }
    }

    func sessionsCorrupt(_ cid: CID, from peer: PeerID) {
        for id in Array(sessions.keys) {
            guard let state = sessions[id] else { continue }
            state.peers[peer]?.penalized = true
            guard let pending = state.inFlight[cid], pending.peer == peer else {
                continue
            }
            state.inFlight[cid] = nil
            state.peers[peer]?.inFlight -= 1
            request(id, cid, excluding: [peer])
            pump(id)
        }
    }

    func sessionsDuplicate(_ cid: CID) {
        for id in Array(sessions.keys) where sessions[id]?.inFlight[cid] != nil {
            // Stored meanwhile by another path (another session, a local add): take it from there.
            guard let state = sessions[id], let pending = state.inFlight.removeValue(forKey: cid) else { continue }
            state.peers[pending.peer]?.inFlight -= 1
            state.lacking[cid] = nil
            state.stack.append(cid)
            pump(id)
        }
    }

    func sessionPeerJoined(_ id: Int, _ peer: PeerID) {
        guard let state = sessions[id], state.peers[peer] == nil else { return }
        state.peers[peer] = SessionPeer()
        let parked = state.parked
        for cid in parked { request(id, cid) }
    }

    func sessionPeerLeft(_ id: Int, _ peer: PeerID) {
        guard let state = sessions[id] else { return }
        // Even a peer the session never counted may have answered; and one that comes back may
        // have the block by then.
        for cid in Array(state.lacking.keys) {
            state.lacking[cid]?.remove(peer)
            if state.lacking[cid]?.isEmpty == true { state.lacking[cid] = nil }
        }
        guard state.peers.removeValue(forKey: peer) != nil else { return }
        let orphaned = state.inFlight.filter { $0.value.peer == peer }.map(\.key)
        for cid in orphaned { state.inFlight[cid] = nil }
        for cid in orphaned { request(id, cid, excluding: [peer]) }
        pump(id)
    }

    /// Asks another peer for blocks whose peer is slower than its own measured latency allows.
    func checkTimeouts(_ id: Int) {
        guard let state = sessions[id] else { return }
        let now = ContinuousClock.now
        if !state.searching, now - state.lastProgress > options.stallLimit {
            options.logger.notice(
                "fetch stalled",
                metadata: [
                    "root": "\(state.root)", "inFlight": "\(state.inFlight.count)", "parked": "\(state.parked.count)",
                ]
            )
            finishSession(id, with: ExchangeError.stalled(state.root, after: options.stallLimit))
            return
        }
        let minimum = Self.seconds(options.minimumTimeout)
        let maximum = Self.seconds(options.maximumTimeout)
        for (cid, pending) in state.inFlight {
            let latency = state.peers[pending.peer]?.latency ?? minimum
            let limit = min(maximum, max(minimum, latency * 8))
            guard Self.seconds(now - pending.sentAt) > limit else { continue }
            options.logger.info("block request timed out", metadata: ["cid": "\(cid)", "peer": "\(pending.peer)"])
            sessions[id]?.inFlight[cid] = nil
            sessions[id]?.peers[pending.peer]?.inFlight -= 1
            if let slow = sessions[id]?.peers[pending.peer]?.latency {
                sessions[id]?.peers[pending.peer]?.latency = slow * 2
            }
            queue([ExchangeMessage.Want(cid: cid, kind: .cancel)], to: pending.peer)
            let others = (sessions[id]?.peers.keys.filter { !pending.tried.contains($0) }) ?? []
            request(id, cid, excluding: others.isEmpty ? [] : [pending.peer])
        }
        pump(id)
    }

    // MARK: - Providers

    func startProviderSearch(_ id: Int, for cid: CID) {
        guard let routing, let state = sessions[id], !state.searching else {
            if routing == nil, let state = sessions[id], state.inFlight.isEmpty {
                finishSession(id, with: ExchangeError.notFound(state.parked.first ?? cid))
            }
            return
        }
        state.searching = true
        let root = state.root
        let manager = self.manager
        let local = manager.localPeer
        Task {
            var found = await routing.findProviders(root, wanted: 20)
            if cid != root { found += await routing.findProviders(cid, wanted: 20) }
            var reached: [PeerID] = []
            for (peer, addresses) in found where peer != local && !reached.contains(peer) {
                if (try? await manager.connect(to: peer, addresses: addresses)) != nil { reached.append(peer) }
            }
            self.providerSearchDone(id, reached: reached)
        }
    }

    /// Asks the providers found for the parked blocks. A block none of them can give stays
    /// parked without another search (the same providers would be found, and say dont-have
    /// again, for good): once nothing is in flight the fetch ends with `notFound`, unless a peer
    /// that joins meanwhile has it.
    private func providerSearchDone(_ id: Int, reached: [PeerID]) {
        guard let state = sessions[id] else { return }
        state.searching = false
        state.searched = true
        for peer in reached where state.peers[peer] == nil { state.peers[peer] = SessionPeer() }
        if !reached.isEmpty {
            // Known peers too: one may only now be connected.
            state.lastProgress = .now
            for cid in state.parked { request(id, cid, search: false) }
        }
        pump(id)
    }

    func finishSession(_ id: Int, with error: (any Error)?) {
        guard let state = sessions.removeValue(forKey: id) else { return }
        state.timer?.cancel()
        for (cid, pending) in state.inFlight {
            queue([ExchangeMessage.Want(cid: cid, kind: .cancel)], to: pending.peer)
        }
        if let error {
            state.completion?.resume(throwing: error)
        } else {
            // The fetched blocks were written without sync; one synced write makes them durable
            // before the fetch is reported done.
            try? blockstore.sync()
            state.completion?.resume(returning: state.progress)
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
