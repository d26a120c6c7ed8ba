import Foundation
import Logging
import Multiformats
import Sodium
import Store

/// A Kademlia-lite DHT node (Specs/dht.md): answers the RPCs of other nodes, keeps the routing
/// table, provider and peer records, and runs iterative lookups.
///
/// All state lives in this actor; the socket only moves bytes. Every datagram is signed by its
/// sender; anything that fails to parse or verify is dropped and counted in `stats`.
public actor DHTNode {
    public struct Options: Sendable {
        public var table = RoutingTable.Limits()
        public var providers = ProviderStore.Limits()
        /// Requests in flight per lookup.
        public var alpha = 3
        /// How long one attempt of a request waits for its answer.
        public var requestTimeout: Duration = .milliseconds(1000)
        /// Attempts after the first before a request fails.
        public var retries = 1
        /// Datagrams above this size are dropped unread.
        public var maxDatagram = 4096
        /// Answers are split so each datagram stays below this (a typical path MTU).
        public var targetDatagram = 1400
        /// Accepted difference between a request's timestamp and this node's clock.
        public var clockSkew: Duration = .seconds(300)
        /// A bucket with no lookup for this long is refreshed with a random lookup.
        public var refreshInterval: Duration = .seconds(3600)
        /// Own provider and peer records are published again after this long.
        public var republishInterval: Duration = .seconds(22 * 3600)
        /// How often expiry, refresh, republish and saving the table run.
        public var maintenanceInterval: Duration = .seconds(60)
        /// Contacts one lookup asks at most. Contact IDs in answers are not proven, and made-up
        /// ones close to the target each cost a timeout: this bounds how long answers full of
        /// them can keep a lookup going (an honest lookup of thousands of nodes asks a few dozen).
        public var maxLookupQueries = 200
        /// Peer records kept for others.
        public var peerRecordLimit = 4096
        /// Request ids remembered to reject replays.
        public var replayCacheLimit = 65_536
        public var logger = Logger(label: "threads.dht")

        public init() {}
    }

    /// Counters of what the node did and dropped.
    public struct Stats: Sendable, Equatable {
        public var datagramsReceived = 0
        public var datagramsSent = 0
        public var requestsSent = 0
        public var requestsAnswered = 0
        public var timeouts = 0
        /// Datagrams dropped, by reason: oversized, malformed, bad-signature, stale, replayed,
        /// unexpected, own.
        public var dropped: [String: Int] = [:]

        public var droppedTotal: Int { dropped.values.reduce(0, +) }
    }

    /// What a lookup found.
    public struct LookupResult: Sendable {
        /// The closest live contacts to the target, closest first (at most k).
        public var closest: [DHTContact] = []
        public var providers: [ProviderRecord] = []
        public var peerRecord: PeerRecord?
        /// Rounds needed to learn of the target node itself (0 when it was already in the table),
        /// when a node with the target's key was found.
        public var hops: Int?
        /// Contacts asked.
        public var queried = 0
        /// Datagrams of the lookup: requests (retries included) and answers.
        public var messages = 0
    }

    struct Pending {
        var peer: PeerID?
        var continuation: CheckedContinuation<(DHTMessage, PeerID, Int), any Error>
        var parts: [Int: DHTMessage] = [:]
        var expected = 1
    }

    public nonisolated let localPeer: PeerID
    public nonisolated let localKey: DHTKey
    nonisolated let identity: Ed25519.PrivateKey
    nonisolated let socket: any DatagramSocket
    public nonisolated let options: Options
    let store: Keyspace?

    public internal(set) var table: RoutingTable
    var providerStore: ProviderStore
    var peerRecords: [PeerID: (record: PeerRecord, received: UInt64)] = [:]
    var ownRecord: PeerRecord?
    var ownRecordPublished: UInt64 = 0
    /// Content this node provides: the CID and when it was last announced.
    var provided: [DHTKey: (cid: CID, addresses: [Multiaddr], announced: UInt64)] = [:]
    var pending: [[UInt8]: Pending] = [:]
    var seen: [[UInt8]: UInt64] = [:]
    var seenOrder: [[UInt8]] = []
    var seenHead = 0
    var pingingOldest: Set<PeerID> = []
    /// Where the node last bootstrapped from, to try again while its table is empty.
    var bootstrapAddresses: [Multiaddr] = []
    public private(set) var stats = Stats()
    var tasks: [Task<Void, Never>] = []
    var stopped = false

    /// A node answering on `socket`. With a `database`, the routing table, the provider records it
    /// holds and the content it provides are kept under `/dht/` and reloaded by `start`.
    public init(
        identity: Ed25519.PrivateKey,
        socket: any DatagramSocket,
        database: Database? = nil,
        options: Options = Options()
    ) {
        self.identity = identity
        localPeer = identity.publicKey.peerID
        localKey = DHTKey(peer: localPeer)
        self.socket = socket
        self.options = options
        store = database.map { Keyspace($0, prefix: Keyspace.dht) }
        table = RoutingTable(localPeer: localPeer, limits: options.table)
        providerStore = ProviderStore(limits: options.providers)
    }

    /// `/ip4|ip6/…/udp/…/p2p/<peer>` of this node's socket.
    public nonisolated var localContact: DHTContact { DHTContact(peer: localPeer, endpoint: socket.localEndpoint) }

    /// Loads persisted state and starts answering and maintenance.
    public func start() {
        guard tasks.isEmpty, !stopped else { return }
        loadPersisted()
        let socket = self.socket
        tasks.append(
            Task { [weak self] in
                for await datagram in socket.inbound {
                    guard let self else { return }
                    await self.receive(datagram)
                }
            }
        )
        tasks.append(
            Task { [weak self] in
                while !Task.isCancelled {
                    guard let interval = self?.options.maintenanceInterval else { return }
                    try? await Task.sleep(for: interval)
                    if Task.isCancelled { return }
                    await self?.maintain()
                }
            }
        )
        let known = table.allContacts
        if !known.isEmpty {
            // Contacts from the last run may be gone: ask them, so dead ones leave the table.
            tasks.append(
                Task { [weak self] in
                    await withTaskGroup(of: Void.self) { group in
                        for contact in known {
                            group.addTask {
                                _ = try? await self?.request(.ping, to: contact.endpoint, peer: contact.peer)
                            }
                        }
                    }
                }
            )
        }
    }

    /// Saves the table, stops answering and closes the socket. Requests waiting fail with `.stopped`.
    public func stop() async {
        guard !stopped else { return }
        stopped = true
        saveTable()
        for task in tasks { task.cancel() }
        tasks.removeAll()
        for (_, waiting) in pending { waiting.continuation.resume(throwing: DHTError.stopped) }
        pending.removeAll()
        await socket.close()
    }

    static func nowMilliseconds() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }

    func drop(_ reason: String, _ detail: @autoclosure () -> String, from source: UDPEndpoint) {
        stats.dropped[reason, default: 0] += 1
        options.logger.debug(
            "dropped datagram",
            metadata: ["reason": "\(reason)", "from": "\(source)", "detail": "\(detail())"]
        )
    }

    // MARK: - Receiving

    func receive(_ datagram: Datagram) async {
        stats.datagramsReceived += 1
        let envelope: Envelope
        do {
            envelope = try Envelope.open(datagram.bytes, limit: options.maxDatagram) { pending[$0] != nil }
        } catch {
            let reason =
                switch error {
                case .oversized: "oversized"
                case .badSignature: "bad-signature"
                case .unexpected: "unexpected"
                default: "malformed"
                }
            drop(reason, "\(error)", from: datagram.source)
            return
        }
        guard envelope.sender != localPeer else {
            return drop("own", "a datagram signed by this node", from: datagram.source)
        }
        let contact = DHTContact(peer: envelope.sender, endpoint: datagram.source)
        if envelope.message.isRequest {
            let now = Self.nowMilliseconds()
            let skew = ProviderStore.milliseconds(options.clockSkew)
            // The distance is taken by subtracting the smaller from the larger: the peer's
            // timestamp may be anything up to UInt64.max, and adding the skew to it would trap.
            let timestamp = envelope.timestamp
            guard (timestamp > now ? timestamp - now : now - timestamp) <= skew else {
                return drop("stale", "timestamp \(envelope.timestamp), now \(now)", from: datagram.source)
            }
            let seenKey = envelope.sender.bytes + envelope.transaction
            guard seen[seenKey] == nil else { return drop("replayed", "request seen before", from: datagram.source) }
            remember(seenKey, until: now + 2 * skew)
            observe(contact)
            let reply = answer(envelope.message, from: contact, now: now)
            send(reply, transaction: envelope.transaction, to: datagram.source)
            stats.requestsAnswered += 1
        } else {
            // An answer counts only for a request this node sent, from the peer it asked.
            guard var waiting = pending[envelope.transaction], waiting.peer == nil || waiting.peer == envelope.sender
            else {
                return drop(
                    "unexpected",
                    "no request \(envelope.transaction) to \(envelope.sender)",
                    from: datagram.source
                )
            }
            observe(contact)
            if waiting.peer == nil { waiting.peer = envelope.sender }
            waiting.expected = envelope.parts
            waiting.parts[envelope.part] = envelope.message
            if waiting.parts.count >= waiting.expected {
                pending[envelope.transaction] = nil
                waiting.continuation.resume(
                    returning: (Self.merge(waiting.parts), envelope.sender, waiting.parts.count)
                )
            } else {
                pending[envelope.transaction] = waiting
            }
        }
    }

    private func remember(_ key: [UInt8], until expiry: UInt64) {
        seen[key] = expiry
        seenOrder.append(key)
        if seen.count > options.replayCacheLimit {
            // Oldest first; a forgotten id still faces the timestamp window.
            seen[seenOrder[seenHead]] = nil
            seenHead += 1
        }
        if seenHead > 4096 && seenHead * 2 > seenOrder.count {
            seenOrder.removeFirst(seenHead)
            seenHead = 0
        }
    }

    func sweepReplayCache(now: UInt64) {
        while seenHead < seenOrder.count, let expiry = seen[seenOrder[seenHead]], expiry <= now {
            seen[seenOrder[seenHead]] = nil
            seenHead += 1
        }
        while seenHead < seenOrder.count, seen[seenOrder[seenHead]] == nil { seenHead += 1 }
        seenOrder.removeFirst(seenHead)
        seenHead = 0
    }

    /// Puts a live contact in the table; when its bucket is full, pings the least recently seen
    /// contact and evicts it only if that fails.
    func observe(_ contact: DHTContact) {
        guard case .bucketFull(let oldest) = table.observe(contact), !pingingOldest.contains(oldest.peer) else {
            return
        }
        pingingOldest.insert(oldest.peer)
        Task {
            do {
                _ = try await self.request(.ping, to: oldest.endpoint, peer: oldest.peer)
            } catch {
                self.evictAfterFailedPing(oldest.peer)
            }
            self.pingDone(oldest.peer)
        }
    }

    private func evictAfterFailedPing(_ peer: PeerID) {
        table.evict(peer)
    }

    private func pingDone(_ peer: PeerID) {
        pingingOldest.remove(peer)
    }

    // MARK: - Serving

    func answer(_ message: DHTMessage, from contact: DHTContact, now: UInt64) -> DHTMessage {
        let k = options.table.k
        func closer(_ key: DHTKey) -> [DHTContact] {
            table.closest(to: key, count: k + 1).filter { $0.peer != contact.peer }.prefix(k).map { $0 }
        }
        switch message {
        case .ping:
            return .pong(observed: contact.endpoint)
        case .findNode(let target):
            return .nodes(closer: closer(target))
        case .getProviders(let key):
            return .providers(records: providerStore.providers(for: key, now: now), closer: closer(key))
        case .getPeer(let peer):
            var record = peer == localPeer ? ownRecord : peerRecords[peer]?.record
            if let received = peerRecords[peer]?.received,
                received + ProviderStore.milliseconds(options.providers.ttl) <= now, peer != localPeer
            {
                peerRecords[peer] = nil
                record = nil
            }
            return .peer(record: record, closer: closer(DHTKey(peer: peer)))
        case .addProvider(let record):
            guard record.provider == contact.peer else {
                return .error("a node may only add itself as a provider")
            }
            do {
                try holdProvider(record, now: now)
                return .stored
            } catch {
                return .error(error.description)
            }
        case .putPeer(let record):
            guard record.peer == contact.peer else { return .error("a node may only store its own peer record") }
            if let existing = peerRecords[record.peer], existing.record.sequence >= record.sequence {
                return .stored  // newest wins; an older or equal record changes nothing
            }
            if peerRecords[record.peer] == nil, peerRecords.count >= options.peerRecordLimit {
                guard let oldest = peerRecords.min(by: { $0.value.received < $1.value.received }) else {
                    return .error("no room for peer records")
                }
                peerRecords[oldest.key] = nil
            }
            peerRecords[record.peer] = (record, now)
            return .stored
        case .pong, .nodes, .providers, .stored, .peer, .error:
            return .error("not a request")
        }
    }

    // MARK: - Sending

    /// Sends `message`, split into parts that each stay under the target datagram size.
    func send(_ message: DHTMessage, transaction: [UInt8], to endpoint: UDPEndpoint) {
        let pieces = split(message)
        for (index, piece) in pieces.enumerated() {
            let envelope = Envelope(
                transaction: transaction,
                sender: localPeer,
                timestamp: Self.nowMilliseconds(),
                part: index,
                parts: pieces.count,
                message: piece
            )
            let bytes = envelope.sealed(with: identity)
            guard bytes.count <= options.maxDatagram else {
                options.logger.warning("not sending an oversized DHT datagram", metadata: ["size": "\(bytes.count)"])
                continue
            }
            socket.send(bytes, to: endpoint)
            stats.datagramsSent += 1
        }
    }

    /// Bytes an envelope adds around its message, signature included, with room for part numbers.
    static let envelopeOverhead = 180

    func split(_ message: DHTMessage) -> [DHTMessage] {
        let budget = options.targetDatagram - Self.envelopeOverhead
        guard message.ipld.encoded.count > budget else { return [message] }
        var records: [ProviderRecord] = []
        var contacts: [DHTContact] = []
        var peerRecord: PeerRecord?
        func make(_ records: [ProviderRecord], _ contacts: [DHTContact], _ record: PeerRecord?) -> DHTMessage {
            switch message {
            case .providers: .providers(records: records, closer: contacts)
            case .peer: .peer(record: record, closer: contacts)
            default: .nodes(closer: contacts)
            }
        }
        var allRecords: [ProviderRecord] = []
        var allContacts: [DHTContact] = []
        switch message {
        case .nodes(let closer): allContacts = closer
        case .providers(let found, let closer):
            allRecords = found
            allContacts = closer
        case .peer(let record, let closer):
            peerRecord = record
            allContacts = closer
        default: return [message]
        }
        var parts: [DHTMessage] = []
        var first = true
        for record in allRecords {
            if !records.isEmpty, make(records + [record], [], nil).ipld.encoded.count > budget {
                parts.append(make(records, [], nil))
                records = []
            }
            records.append(record)
        }
        for contact in allContacts {
            let candidate = make(records, contacts + [contact], first ? peerRecord : nil)
            if !(records.isEmpty && contacts.isEmpty), candidate.ipld.encoded.count > budget {
                parts.append(make(records, contacts, first ? peerRecord : nil))
                first = false
                records = []
                contacts = []
            }
            contacts.append(contact)
        }
        parts.append(make(records, contacts, first ? peerRecord : nil))
        return Array(parts.prefix(16))
    }

    /// Joins the parts of a split answer back into one message.
    static func merge(_ parts: [Int: DHTMessage]) -> DHTMessage {
        let ordered = parts.keys.sorted().compactMap { parts[$0] }
        guard ordered.count > 1 else { return ordered.first ?? .error("empty answer") }
        var records: [ProviderRecord] = []
        var contacts: [DHTContact] = []
        var peerRecord: PeerRecord?
        for part in ordered {
            switch part {
            case .nodes(let closer): contacts += closer
            case .providers(let found, let closer):
                records += found
                contacts += closer
            case .peer(let record, let closer):
                peerRecord = peerRecord ?? record
                contacts += closer
            default: return part
            }
        }
        switch ordered[0] {
        case .providers: return .providers(records: records, closer: contacts)
        case .peer: return .peer(record: peerRecord, closer: contacts)
        default: return .nodes(closer: contacts)
        }
    }

    /// Sends a request and waits for its answer, retrying on timeout. With `peer`, only that peer
    /// may answer; without (bootstrap by address), whoever answers is returned.
    @discardableResult
    public func request(
        _ message: DHTMessage,
        to endpoint: UDPEndpoint,
        peer: PeerID? = nil
    ) async throws -> (message: DHTMessage, from: PeerID) {
        let exchange = await self.exchange(message, to: endpoint, peer: peer)
        let answer = try exchange.outcome.get()
        return (answer.message, answer.from)
    }

    /// One request with its retries, and what it cost on the wire.
    struct Exchange: Sendable {
        var outcome: Result<(message: DHTMessage, from: PeerID), any Error>
        /// Request datagrams sent.
        var attempts = 0
        /// Answer datagrams received (an answer may come in parts).
        var answers = 0
    }

    func exchange(_ message: DHTMessage, to endpoint: UDPEndpoint, peer: PeerID?) async -> Exchange {
        var exchange = Exchange(outcome: .failure(DHTError.timeout(peer: peer, address: endpoint.description)))
        for _ in 0...max(0, options.retries) {
            guard !stopped else {
                exchange.outcome = .failure(DHTError.stopped)
                return exchange
            }
            if Task.isCancelled {
                exchange.outcome = .failure(CancellationError())
                return exchange
            }
            let transaction = Random.bytes(count: Envelope.transactionLength)
            stats.requestsSent += 1
            exchange.attempts += 1
            do {
                let (answer, from, parts) = try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { continuation in
                        pending[transaction] = Pending(peer: peer, continuation: continuation)
                        send(message, transaction: transaction, to: endpoint)
                        let timeout = options.requestTimeout
                        Task { [weak self] in
                            try? await Task.sleep(for: timeout)
                            await self?.expire(transaction)
                        }
                    }
                } onCancel: {
                    Task { await self.fail(transaction, with: CancellationError()) }
                }
                exchange.answers += parts
                if case .error(let reason) = answer {
                    exchange.outcome = .failure(DHTError.remote(reason))
                } else {
                    exchange.outcome = .success((answer, from))
                }
                return exchange
            } catch DHTError.timeout {
                stats.timeouts += 1
                continue
            } catch {
                exchange.outcome = .failure(error)
                return exchange
            }
        }
        exchange.outcome = .failure(DHTError.timeout(peer: peer, address: endpoint.description))
        return exchange
    }

    private func expire(_ transaction: [UInt8]) {
        guard let waiting = pending.removeValue(forKey: transaction) else { return }
        if !waiting.parts.isEmpty, let peer = waiting.peer {
            // Some parts of a split answer were lost: use what arrived.
            waiting.continuation.resume(returning: (Self.merge(waiting.parts), peer, waiting.parts.count))
        } else {
            waiting.continuation.resume(throwing: DHTError.timeout(peer: waiting.peer, address: ""))
        }
    }

    private func fail(_ transaction: [UInt8], with error: any Error) {
        pending.removeValue(forKey: transaction)?.continuation.resume(throwing: error)
    }
}
