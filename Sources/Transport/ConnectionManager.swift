import Logging
import Multiformats
import NIOCore

/// Keeps at most one multiplexed connection per peer, accepts and dials them, enforces limits and
/// backoff, records addresses in the peerstore, and reports connects and disconnects.
///
/// When both peers dial each other at once, two connections exist for a moment; both sides keep
/// the one initiated by the peer with the smaller peer ID (binary order) and close the other, so
/// they always agree on which survives.
public actor ConnectionManager {
    public struct Limits: Sendable {
        /// Connections in total, inbound and outbound.
        public var maxConnections = 256
        /// Inbound connections from one IPv4 address or one IPv6 /64 (Sybil hygiene: a single
        /// IPv6 host is commonly given a whole /64, so counting full addresses would bound nothing).
        public var maxPerIP = 16
        /// First wait after a failed dial; doubled per further failure.
        public var backoffBase: Duration = .milliseconds(500)
        /// Longest wait between dial attempts to a failing peer.
        public var backoffMax: Duration = .seconds(300)
        /// Two connections to one peer made within this time of each other are a simultaneous
        /// dial, settled by peer ID. A new one arriving later means the peer no longer has the
        /// old one (it restarted, or lost it unseen): the new one replaces it.
        public var collapseWindow: Duration = .seconds(5)
        /// Failing peers remembered for backoff before those whose wait ran out long ago are
        /// forgotten (they start again from the first wait).
        public var maxRememberedFailures = 1024

        public init() {}
    }

    public enum Event: Sendable, Hashable {
        case connected(PeerID, inbound: Bool)
        case disconnected(PeerID)
    }

    private struct Entry {
        let connection: MuxConnection
        let dialedByUs: Bool
        let ip: String?
        let since = ContinuousClock.now
    }

    public nonisolated let localPeer: PeerID
    private let transport: SecureTransport
    private let protocols: MuxProtocols
    private let options: MuxConnection.Options
    private let limits: Limits
    private let peerstore: Peerstore?
    private var connections: [PeerID: Entry] = [:]
    private var dials: [PeerID: Task<MuxConnection, any Error>] = [:]
    private var failures: [PeerID: (count: Int, retryAt: ContinuousClock.Instant)] = [:]
    private var subscribers: [Int: AsyncStream<Event>.Continuation] = [:]
    private var nextSubscriber = 0
    private var listeners: [SecureListener] = []
    private var tasks: [Task<Void, Never>] = []
    /// The task running each live connection, dropped when it ends: a long-lived node sees many
    /// connections come and go.
    private var runs: [ObjectIdentifier: (connection: MuxConnection, task: Task<Void, Never>)] = [:]
    /// Set by `shutdown`: a dial or handshake that completes afterwards is closed at once, not
    /// kept (it would hold shutdown, and the node, until the peer hangs up).
    private var isShutDown = false

    /// Connections whose run task has not ended yet (for tests).
    var runningConnections: Int { runs.count }
    /// Peers remembered for backoff (for tests).
    var rememberedFailures: Int { failures.count }

    public init(
        transport: SecureTransport,
        protocols: MuxProtocols,
        options: MuxConnection.Options = MuxConnection.Options(),
        limits: Limits = Limits(),
        peerstore: Peerstore? = nil
    ) {
        self.transport = transport
        self.localPeer = transport.identity.publicKey.peerID
        self.protocols = protocols
        self.options = options
        self.limits = limits
        self.peerstore = peerstore
    }

    // MARK: - Events

    /// A stream of connects and disconnects from now on.
    public func events() -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream()
        let id = nextSubscriber
        nextSubscriber += 1
        subscribers[id] = continuation
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        return stream
    }

    private func unsubscribe(_ id: Int) {
        subscribers[id] = nil
    }

    private func emit(_ event: Event) {
        for continuation in subscribers.values { continuation.yield(event) }
    }

    // MARK: - Accepting

    /// Listens on `address` and returns the address actually bound.
    public func listen(on address: Multiaddr) async throws -> Multiaddr {
        let listener = try await transport.listen(on: address)
        listeners.append(listener)
        tasks.append(
            Task {
                try? await listener.run { channel in await self.accepted(channel) }
            }
        )
        return listener.localAddress ?? address
    }

    /// What the per-IP limit counts an inbound connection's address as: the IPv4 address, or the
    /// IPv6 address's /64 (an IPv4-mapped IPv6 address counts as its IPv4 address).
    static func limitKey(_ address: Multiaddr?) -> String? {
        guard let host = address?.components.first else { return nil }
        switch host.proto {
        case .ip6 where host.value.count == 16:
            let bytes = host.value
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
                return bytes[12...].map(String.init).joined(separator: ".")
            }
            let groups = stride(from: 0, to: 8, by: 2).map {
                String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
            }
            return groups.joined(separator: ":") + "::/64"
        default:
            return host.valueString
        }
    }

    private func accepted(_ channel: SecureChannel) async {
        let ip = Self.limitKey(channel.remoteAddress)
        let fromIP = connections.values.filter { !$0.dialedByUs && $0.ip != nil && $0.ip == ip }.count
        guard connections.count < limits.maxConnections, fromIP < limits.maxPerIP else {
            options.logger.notice(
                "refusing connection over the limits",
                metadata: [
                    "peer": "\(channel.remotePeer)", "ip": "\(ip ?? "?")", "connections": "\(connections.count)",
                ]
            )
            try? await channel.channel.executeThenClose { _, _ in }
            return
        }
        _ = try? await register(channel, dialedByUs: false, ip: ip)
    }

    // MARK: - Dialling

    /// The connection to the peer named by the address's `/p2p/` part, dialling it if needed.
    public func connect(_ address: Multiaddr) async throws -> MuxConnection {
        guard let peer = address.peerID else {
            throw TransportError.unsupportedAddress("\(address) (no /p2p/<peer> part)")
        }
        return try await connect(to: peer, addresses: [address])
    }

    /// The connection to `peer`: the existing one, a dial already under way, or a new dial to the
    /// given addresses and those in the peerstore.
    public func connect(to peer: PeerID, addresses: [Multiaddr] = []) async throws -> MuxConnection {
        guard !isShutDown else { throw TransportError.shutDown }
        if let entry = connections[peer] { return entry.connection }
        if let dial = dials[peer] { return try await dial.value }
        if let failure = failures[peer], failure.retryAt > .now {
            throw TransportError.backoff(peer: peer, retryIn: failure.retryAt - .now)
        }
        var candidates = addresses
        for known in (try? peerstore?.addresses(of: peer)) ?? [] where !candidates.contains(known) {
            candidates.append(known)
        }
        guard !candidates.isEmpty else { throw TransportError.noAddresses(peer) }
        let dial = Task { try await self.dial(peer, candidates) }
        dials[peer] = dial
        defer { dials[peer] = nil }
        return try await dial.value
    }

    private func dial(_ peer: PeerID, _ candidates: [Multiaddr]) async throws -> MuxConnection {
        var lastError: any Error = TransportError.noAddresses(peer)
        for candidate in candidates {
            do {
                let target = candidate.peerID == nil ? try candidate.encapsulate(Multiaddr("/p2p/\(peer)")) : candidate
                let channel = try await transport.dial(target)
                failures[peer] = nil
                try? peerstore?.add([candidate.withoutPeerID ?? candidate], for: peer)
                return try await register(channel, dialedByUs: true, ip: nil)
            } catch TransportError.shutDown {
                throw TransportError.shutDown
            } catch {
                lastError = error
            }
        }
        let count = (failures[peer]?.count ?? 0) + 1
        let wait = min(limits.backoffBase * (1 << min(count - 1, 20)), limits.backoffMax)
        if failures.count >= limits.maxRememberedFailures {
            // Peer IDs met once (a DHT answer names dozens) would otherwise stay here for good.
            let now = ContinuousClock.now
            failures = failures.filter { $0.value.retryAt + limits.backoffMax > now }
        }
        failures[peer] = (count, .now + wait)
        options.logger.info(
            "dial failed",
            metadata: ["peer": "\(peer)", "attempt": "\(count)", "retryIn": "\(wait)", "reason": "\(lastError)"]
        )
        throw lastError
    }

    // MARK: - Bookkeeping

    private func register(_ channel: SecureChannel, dialedByUs: Bool, ip: String?) async throws(TransportError)
        -> MuxConnection
    {
        guard !isShutDown else {
            try? await channel.channel.executeThenClose { _, _ in }
            throw .shutDown
        }
        let peer = channel.remotePeer
        let connection = MuxConnection(channel, protocols: protocols, options: options)
        // Set before the task can end: `ended` runs on this actor, after this method.
        let run = Task {
            try? await connection.run()
            self.ended(connection, peer: peer)
        }
        runs[ObjectIdentifier(connection)] = (connection, run)
        let entry = Entry(connection: connection, dialedByUs: dialedByUs, ip: ip)
        guard let existing = connections[peer] else {
            connections[peer] = entry
            emit(.connected(peer, inbound: !dialedByUs))
            return connection
        }
        // A peer that dials (or is dialled) while an older connection stands no longer has that
        // one: it restarted, or the old one died without a word (a power cut). Waiting for
        // keep-alive to notice would leave it unreachable for most of a minute. A side dials only
        // when it holds no connection to the peer, so a second connection dialled by the side that
        // dialled the first is such a replacement, however soon it comes.
        let newInitiator = dialedByUs ? localPeer : peer
        let existingInitiator = existing.dialedByUs ? localPeer : peer
        let stale = newInitiator == existingInitiator || existing.since + limits.collapseWindow < .now
        if !stale {
            // Two connections to one peer, one dialled by each side at once: keep the one
            // initiated by the smaller peer ID. Both sides apply the same rule, so they keep the
            // same connection.
            guard newInitiator == min(localPeer, peer) else {
                await connection.close()
                return existing.connection
            }
        }
        connections[peer] = entry
        await existing.connection.close()
        if stale {
            options.logger.info("replaced an older connection", metadata: ["peer": "\(peer)"])
            emit(.disconnected(peer))
            emit(.connected(peer, inbound: !dialedByUs))
        }
        return connection
    }

    private func ended(_ connection: MuxConnection, peer: PeerID) {
        runs[ObjectIdentifier(connection)] = nil
        guard let entry = connections[peer], entry.connection === connection else { return }
        connections[peer] = nil
        emit(.disconnected(peer))
    }

    /// The current connection to `peer`, if any.
    public func connection(to peer: PeerID) -> MuxConnection? {
        connections[peer]?.connection
    }

    /// Peers with a connection now.
    public var connectedPeers: [PeerID] { Array(connections.keys) }

    /// Closes the connection to `peer`.
    public func disconnect(_ peer: PeerID) async {
        await connections[peer]?.connection.close()
    }

    /// Stops listening and closes every connection. Dials still under way fail with `shutDown`,
    /// and connections they or a late handshake bring are closed at once.
    public func shutdown() async {
        isShutDown = true
        for dial in dials.values { dial.cancel() }
        for listener in listeners { await listener.close() }
        listeners = []
        // Every connection with a running task, not only the current one per peer: one losing a
        // simultaneous-dial collapse, or being replaced, may still be open.
        for (connection, _) in runs.values { await connection.close() }
        for task in tasks { await task.value }
        tasks = []
        // With `isShutDown` set nothing registers any more: these are all there will be.
        for (_, run) in Array(runs.values) { await run.value }
        for continuation in subscribers.values { continuation.finish() }
        subscribers = [:]
    }
}
