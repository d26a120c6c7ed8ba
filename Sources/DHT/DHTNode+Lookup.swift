import Foundation
import Multiformats

extension DHTNode {
    enum LookupGoal: Sendable {
        case node
        case providers(wanted: Int)
        case peer(PeerID)
    }

    private enum CandidateState { case waiting, asked, answered, failed }

    private struct Candidate {
        var contact: DHTContact
        var depth: Int
        var state: CandidateState = .waiting
    }

    private struct LookupState {
        let target: DHTKey
        let goal: LookupGoal
        var candidates: [PeerID: Candidate] = [:]
        var providers: [PeerID: ProviderRecord] = [:]
        var peerRecord: PeerRecord?
        var peerAnsweredItself = false
        var messages = 0

        func ordered() -> [Candidate] {
            candidates.values.filter { $0.state != .failed }.sorted {
                target.isCloser($0.contact.key, than: $1.contact.key)
            }
        }

        var goalMet: Bool {
            switch goal {
            case .node: false
            case .providers(let wanted): providers.count >= wanted
            case .peer: peerAnsweredItself
            }
        }

        /// Takes in an answer from `peer`; returns the contacts it taught.
        mutating func absorb(_ answer: DHTMessage, from peer: PeerID) -> [DHTContact] {
            switch answer {
            case .nodes(let closer):
                return closer
            case .providers(let records, let closer):
                for record in records where record.key == target {
                    if let existing = providers[record.provider], existing.issued >= record.issued { continue }
                    providers[record.provider] = record
                }
                return closer
            case .peer(let record, let closer):
                if case .peer(let wanted) = goal, let record, record.peer == wanted {
                    if record.sequence > peerRecord?.sequence ?? 0 || peerRecord == nil { peerRecord = record }
                    if peer == wanted { peerAnsweredItself = true }
                }
                return closer
            default:
                return []
            }
        }
    }

    /// The iterative Kademlia lookup: ask the α closest unasked contacts, learn closer ones from
    /// their answers, and stop when the k closest known contacts have all answered (or the goal
    /// is met early). Contacts that fail are dropped from the candidates and counted against in
    /// the table.
    func lookup(_ target: DHTKey, goal: LookupGoal) async -> LookupResult {
        let k = options.table.k
        let alpha = options.alpha
        table.touch(target)
        var initial = LookupState(target: target, goal: goal)
        for contact in table.closest(to: target, count: k) {
            initial.candidates[contact.peer] = Candidate(contact: contact, depth: 0)
        }
        let message: DHTMessage =
            switch goal {
            case .node: .findNode(target: target)
            case .providers: .getProviders(key: target)
            case .peer(let peer): .getPeer(peer)
            }
        let localPeer = self.localPeer
        let maxQueries = options.maxLookupQueries
        let start = initial
        let state = await withTaskGroup(
            of: (PeerID, Exchange).self,
            returning: LookupState.self
        ) { group in
            var state = start
            var inFlight = 0
            var queries = 0
            while !state.goalMet, !Task.isCancelled {
                let closest = state.ordered().prefix(k)
                if closest.allSatisfy({ $0.state == .answered }) { break }
                for candidate in closest
                where candidate.state == .waiting && inFlight < alpha && queries < maxQueries {
                    state.candidates[candidate.contact.peer]?.state = .asked
                    inFlight += 1
                    queries += 1
                    let contact = candidate.contact
                    group.addTask {
                        (contact.peer, await self.exchange(message, to: contact.endpoint, peer: contact.peer))
                    }
                }
                guard inFlight > 0, let (peer, exchange) = await group.next() else { break }
                inFlight -= 1
                state.messages += exchange.attempts + exchange.answers
                guard let asked = state.candidates[peer] else { continue }
                switch exchange.outcome {
                case .failure:
                    state.candidates[peer]?.state = .failed
                    self.table.recordFailure(peer, at: asked.contact.endpoint)
                case .success(let answer):
                    state.candidates[peer]?.state = .answered
                    // An answer may be split over 16 datagrams of 32 contacts; only the k closest
                    // to the target are taken, as an honest server sends no more.
                    let taught = state.absorb(answer.message, from: peer).filter {
                        $0.peer != localPeer && state.candidates[$0.peer] == nil
                    }
                    for contact in taught.sorted(by: { target.isCloser($0.key, than: $1.key) }).prefix(k) {
                        state.candidates[contact.peer] = Candidate(contact: contact, depth: asked.depth + 1)
                    }
                }
            }
            group.cancelAll()
            return state
        }
        var result = LookupResult()
        result.closest = state.ordered().filter { $0.state == .answered }.prefix(k).map(\.contact)
        if let found = state.candidates.values.first(where: { $0.contact.key == target && $0.state != .failed }) {
            result.hops = found.depth
        }
        result.providers = state.providers.values.sorted { $0.issued > $1.issued }
        result.peerRecord = state.peerRecord
        result.queried = state.candidates.values.filter { $0.state != .waiting }.count
        result.messages = state.messages
        return result
    }

    // MARK: - Public operations

    /// Pings `address` (`/ip4|ip6/…/udp/…[/p2p/<peer>]`) and returns the contact that answered.
    /// With a `/p2p/` part, only that peer's answer counts.
    @discardableResult
    public func ping(_ address: Multiaddr) async throws -> DHTContact {
        let endpoint = try UDPEndpoint(address)
        let (_, peer) = try await request(.ping, to: endpoint, peer: address.peerID)
        return DHTContact(peer: peer, endpoint: endpoint)
    }

    /// Joins the network through the given nodes: pings them (three rounds, a second and then two
    /// apart, while none answers), looks up this node's own key (which fills the nearby buckets),
    /// then refreshes each farther bucket once. Returns the contacts that answered the pings. While
    /// the table stays empty, maintenance tries these addresses again.
    @discardableResult
    public func bootstrap(_ addresses: [Multiaddr]) async -> [DHTContact] {
        if !addresses.isEmpty { bootstrapAddresses = addresses }
        var reached: [DHTContact] = []
        for round in 0..<3 where reached.isEmpty && !addresses.isEmpty {
            if round > 0 { try? await Task.sleep(for: .seconds(round)) }
            await withTaskGroup(of: DHTContact?.self) { group in
                for address in addresses {
                    group.addTask { try? await self.ping(address) }
                }
                for await contact in group {
                    if let contact { reached.append(contact) }
                }
            }
        }
        guard table.count > 0 else { return reached }
        let own = await lookup(localKey, goal: .node)
        let nearest = own.closest.first.map { localKey.commonPrefixLength(with: $0.key) } ?? 0
        for index in 0..<min(nearest, DHTKey.bitCount - 1) {
            _ = await lookup(localKey.random(sharingPrefix: index), goal: .node)
        }
        return reached
    }

    /// The k closest live nodes to `key`.
    public func findNode(_ key: DHTKey) async -> LookupResult {
        await lookup(key, goal: .node)
    }

    /// The newest signed peer record of `peer` (its current multiaddrs), from the records the
    /// network holds and from the peer itself.
    public func findPeer(_ peer: PeerID) async -> PeerRecord? {
        if peer == localPeer { return ownRecord }
        let found = await lookup(DHTKey(peer: peer), goal: .peer(peer))
        let local = peerRecords[peer]?.record
        guard let remote = found.peerRecord else { return local }
        guard let local else { return remote }
        return remote.sequence >= local.sequence ? remote : local
    }

    /// Announces that this node provides `cid`, reachable at `addresses`, to the k nodes closest
    /// to the content key; it is announced again every `republishInterval`. Returns how many nodes
    /// stored the record.
    @discardableResult
    public func provide(_ cid: CID, addresses: [Multiaddr]) async -> Int {
        let key = DHTKey(content: cid)
        let now = Self.nowMilliseconds()
        let record = ProviderRecord(key: key, addresses: addresses, issued: now, identity: identity)
        try? holdProvider(record, now: now)
        provided[key] = (cid, addresses, now)
        persistProvided(key)
        return await announce(.addProvider(record), near: key)
    }

    /// Publishes this node's peer record (its multiaddrs, with a new sequence number) to the k
    /// nodes closest to its ID. Returns how many stored it.
    @discardableResult
    public func publishPeerRecord(addresses: [Multiaddr]) async -> Int {
        let sequence = max(Self.nowMilliseconds(), (ownRecord?.sequence ?? 0) + 1)
        ownRecord = PeerRecord(sequence: sequence, addresses: addresses, identity: identity)
        ownRecordPublished = Self.nowMilliseconds()
        return await announce(.putPeer(ownRecord!), near: localKey)
    }

    private func announce(_ message: DHTMessage, near key: DHTKey) async -> Int {
        let targets = await lookup(key, goal: .node).closest
        var stored = 0
        await withTaskGroup(of: Bool.self) { group in
            for contact in targets {
                group.addTask {
                    guard let answer = try? await self.request(message, to: contact.endpoint, peer: contact.peer) else {
                        return false
                    }
                    if case .stored = answer.message { return true }
                    return false
                }
            }
            for await ok in group where ok { stored += 1 }
        }
        return stored
    }

    /// Providers of `cid`: the records this node holds and those found by a lookup, newest first,
    /// stopping once `wanted` providers are known.
    public func findProviders(_ cid: CID, wanted: Int = 20) async -> [ProviderRecord] {
        let key = DHTKey(content: cid)
        let local = providerStore.providers(for: key, now: Self.nowMilliseconds())
        var byPeer: [PeerID: ProviderRecord] = [:]
        for record in local { byPeer[record.provider] = record }
        if byPeer.count < wanted {
            for record in await lookup(key, goal: .providers(wanted: wanted - byPeer.count)).providers
            where byPeer[record.provider].map({ $0.issued < record.issued }) ?? true {
                byPeer[record.provider] = record
            }
        }
        return byPeer.values.sorted { $0.issued > $1.issued }
    }

    // MARK: - Maintenance

    /// Expires records, refreshes idle buckets, republishes own records and saves the table.
    func maintain() async {
        let now = Self.nowMilliseconds()
        for record in providerStore.expire(now: now) { unpersist(record) }
        let ttl = ProviderStore.milliseconds(options.providers.ttl)
        peerRecords = peerRecords.filter { $0.value.received + ttl > now }
        sweepReplayCache(now: now)
        if table.count == 0, !bootstrapAddresses.isEmpty {
            await bootstrap(bootstrapAddresses)
        }
        let cutoff = Date() - TimeInterval(options.refreshInterval.components.seconds)
        if table.count > 0 {
            for index in table.staleBuckets(since: cutoff) {
                _ = await lookup(localKey.random(sharingPrefix: index), goal: .node)
            }
        }
        let republish = ProviderStore.milliseconds(options.republishInterval)
        for entry in provided.values where entry.announced + republish <= now {
            _ = await provide(entry.cid, addresses: entry.addresses)
        }
        if let own = ownRecord, ownRecordPublished + republish <= now {
            _ = await publishPeerRecord(addresses: own.addresses)
        }
        saveTable()
    }

    /// A summary of the routing table for `threads dht table`.
    public func tableSummary() -> TableSummary {
        TableSummary(
            peer: localPeer,
            endpoint: socket.localEndpoint,
            size: table.count,
            buckets: table.bucketSizes.enumerated().compactMap { index, size in
                let waiting = table.replacementContacts(inBucket: index).count
                return size == 0 && waiting == 0 ? nil : .init(index: index, size: size, replacements: waiting)
            },
            providerRecords: providerStore.count,
            peerRecords: peerRecords.count,
            provided: provided.count
        )
    }
}

/// Bucket fill and record counts of a DHT node.
public struct TableSummary: Sendable {
    public struct Bucket: Sendable {
        /// Common-prefix length with the local node ID.
        public let index: Int
        public let size: Int
        public let replacements: Int
    }

    public let peer: PeerID
    public let endpoint: UDPEndpoint
    public let size: Int
    /// Non-empty buckets only.
    public let buckets: [Bucket]
    public let providerRecords: Int
    public let peerRecords: Int
    public let provided: Int
}
