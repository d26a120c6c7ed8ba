import DHT
import DagCBOR
import Exchange
import Foundation
import Logging
import Multiformats
import Synchronization
import Threads
import ThreadsDB
import Transport

/// A running node: the repo, the secure transport with its connection manager, and the DHT,
/// wired together. `threadsd` is a thin shell around this.
public actor ThreadsNode {
    /// Tells a peer which addresses this node listens on, so a node known only by its TCP address
    /// (an invite, a bootstrap entry) can be reached on the DHT too. Request: empty. Answer:
    /// DAG-CBOR `{"listen": [multiaddr bytes], "dht": multiaddr bytes | null}`.
    public static let identifyProtocol = "/threads/id/1"

    public nonisolated let repo: Repo
    public nonisolated let peerID: PeerID
    public nonisolated let manager: ConnectionManager
    /// The block exchange (`/threads/exchange/1`), with the DHT for provider search.
    public nonisolated let exchange: Exchange
    /// Threads: the logstore and its replication (`/threads/log/1`).
    public nonisolated let logstore: Logstore
    public nonisolated let replicator: Replicator
    /// The document database of the node's threads (collections, instances, queries, listen).
    public nonisolated let db: ThreadDB
    private nonisolated let advertised: AdvertisedAddresses
    /// Known addresses of peers; the connection manager and the address learner share it, as the
    /// peerstore's bound on peers kept is tracked per instance.
    private nonisolated let peerstore: Peerstore
    public private(set) var dht: DHTNode?
    /// The bound TCP listen addresses (ports resolved), without `/p2p/`.
    public private(set) var tcpAddresses: [Multiaddr] = []
    private var maintenance: Task<Void, Never>?
    private var follower: Task<Void, Never>?
    private var learner: Task<Void, Never>?
    let logger: Logger

    public init(repo: Repo, logger: Logger = Logger(label: "threads.node")) {
        self.repo = repo
        peerID = repo.peerID
        self.logger = logger
        let advertised = AdvertisedAddresses()
        self.advertised = advertised
        var protocols = MuxProtocols()
        protocols.handleRequests(Self.identifyProtocol) { _ in
            let (listen, dht) = advertised.current
            let answer = IPLD.map([
                "listen": .list(listen.map { .bytes($0.bytes) }),
                "dht": dht.map { .bytes($0.bytes) } ?? .null,
            ])
            return .single(try DagCBOR.encode(answer))
        }
        let slot = Slot<Exchange>()
        Exchange.register(in: &protocols, slot: slot)
        let replicatorSlot = Slot<Replicator>()
        Replicator.register(in: &protocols, slot: replicatorSlot)
        let routing = NodeRouting()
        peerstore = Peerstore(database: repo.database)
        manager = ConnectionManager(
            transport: SecureTransport(identity: repo.identity),
            protocols: protocols,
            peerstore: peerstore
        )
        exchange = Exchange(blockstore: repo.blockstore, manager: manager, routing: routing)
        slot.value = exchange
        logstore = Logstore(database: repo.database, blockstore: repo.blockstore)
        let exchange = self.exchange
        replicator = Replicator(
            logstore: logstore,
            manager: manager,
            fetchBlock: { cid in try await exchange.block(cid) }
        )
        replicatorSlot.value = replicator
        let replicator = self.replicator
        db = ThreadDB(logstore: logstore, logger: logger) { blocks, thread in
            await replicator.push(blocks, thread: thread)
        }
        self.routing = routing
    }

    private nonisolated let routing: NodeRouting

    /// Binds the TCP listeners and the DHT's UDP socket; returns the banner lines (full
    /// multiaddrs). Without a UDP address in `listen`, the DHT binds UDP on the first TCP
    /// address's IP and port number, or any free port when that one is taken.
    public func start(listen: [Multiaddr]) async throws -> [String] {
        var lines: [String] = []
        let tcp = listen.filter(\.isTCP)
        let udp = listen.filter(\.isUDP)
        if let other = listen.first(where: { !tcp.contains($0) && !udp.contains($0) }) {
            throw NodeError("cannot listen on \(other): use /ip4|ip6/<host>/tcp/<port> or …/udp/<port>")
        }
        for address in tcp {
            let bound: Multiaddr
            do {
                bound = try await manager.listen(on: address)
            } catch {
                throw NodeError.cannotBind(address, for: "listen", error)
            }
            tcpAddresses.append(bound)
            lines.append("Listening on \(bound)/p2p/\(peerID)")
        }
        let socket: UDPSocket
        if let address = udp.first {
            do {
                socket = try await UDPSocket.bind(address)
            } catch {
                throw NodeError.cannotBind(address, for: "listen", error)
            }
        } else if let first = tcpAddresses.first {
            let parts = first.components
            let host = parts[0]
            let samePort = try Multiaddr(components: [host, Multiaddr.Component(proto: .udp, value: parts[1].value)])
            let anyPort = try Multiaddr(components: [host, Multiaddr.Component(proto: .udp, string: "0")])
            if let bound = try? await UDPSocket.bind(samePort) {
                socket = bound
            } else {
                do {
                    socket = try await UDPSocket.bind(anyPort)
                } catch {
                    throw NodeError.cannotBind(anyPort, for: "listen", error)
                }
            }
        } else {
            throw NodeError("no TCP listen address given")
        }
        let dht = DHTNode(identity: repo.identity, socket: socket, database: repo.database)
        await dht.start()
        self.dht = dht
        routing.dht.value = dht
        await exchange.start()
        // Records stored before a crash but not yet applied, then everything peers send.
        await db.catchUpAll()
        let ingested = await replicator.ingested()
        let db = self.db
        follower = Task { await db.follow(ingested) }
        let events = await manager.events()
        learner = Task { [weak self] in
            for await event in events {
                guard case .connected(let peer, inbound: true) = event else { continue }
                await self?.learnAddresses(of: peer)
            }
        }
        await replicator.start()
        lines.append("Listening on \(socket.localEndpoint.multiaddr)/p2p/\(peerID)")
        advertised.set(
            listen: tcpAddresses.flatMap(InterfaceAddresses.expand),
            dht: InterfaceAddresses.expand(socket.localEndpoint.multiaddr).first
        )
        maintenance = Task { [weak self] in
            // Keep the peer record fresh well inside its 48 h lifetime.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(3600))
                await self?.publishPeerRecord()
            }
        }
        return lines
    }

    /// Multiaddrs others can dial this node at: TCP, then the DHT's UDP one.
    public nonisolated var dialableAddresses: [Multiaddr] {
        let (listen, dht) = advertised.current
        return listen + (dht.map { [$0] } ?? [])
    }

    /// Joins the DHT through `addresses`: UDP addresses are pinged directly; for a TCP address the
    /// node tries UDP on the same IP and port, then asks the peer over TCP where its DHT listens.
    /// Then publishes this node's peer record. Returns the contacts reached.
    @discardableResult
    public func bootstrap(_ addresses: [Multiaddr]) async -> [DHTContact] {
        guard let dht else { return [] }
        var udp: [Multiaddr] = []
        for address in addresses {
            if let resolved = await dhtAddress(for: address) { udp.append(resolved) }
        }
        let reached = await dht.bootstrap(udp)
        if reached.isEmpty, !addresses.isEmpty {
            logger.warning("no bootstrap peer answered", metadata: ["tried": "\(addresses.map(\.description))"])
        }
        await publishPeerRecord()
        await announceAll()
        return reached
    }

    /// The DHT address that corresponds to `address`.
    func dhtAddress(for address: Multiaddr) async -> Multiaddr? {
        let parts = address.components
        guard parts.count >= 2, let dht else { return nil }
        if parts[1].proto == .udp { return address }
        guard parts[1].proto == .tcp,
            let guess = try? Multiaddr(components: [parts[0], Multiaddr.Component(proto: .udp, value: parts[1].value)])
        else { return nil }
        let target = address.peerID.flatMap { try? guess.encapsulate(Multiaddr("/p2p/\($0)")) } ?? guess
        if (try? await dht.ping(target)) != nil { return target }
        // Not on the same port number: ask the peer itself.
        guard let connection = try? await manager.connect(address),
            let reply = try? await connection.request(Self.identifyProtocol, [], timeout: .seconds(5)),
            let fields = (try? DagCBOR.decode(reply))?.mapValue, let raw = fields["dht"]?.bytesValue,
            let announced = try? Multiaddr(bytes: raw), announced.components.count >= 2
        else { return nil }
        // Its announced host may be one we cannot reach; the host we dialled works.
        guard let resolved = try? Multiaddr(components: [parts[0], announced.components[1]]) else { return nil }
        return try? resolved.encapsulate(Multiaddr("/p2p/\(connection.remotePeer)"))
    }

    /// A peer that dialled in is asked where it listens, so this node can dial it back later
    /// (after a restart of either side) without the DHT. The IP it connected from is used with the
    /// ports it announces: its own idea of its host may not be reachable from here.
    func learnAddresses(of peer: PeerID) async {
        guard let connection = await manager.connection(to: peer),
            let ip = connection.remoteAddress?.components.first,
            let reply = try? await connection.request(Self.identifyProtocol, [], timeout: .seconds(5)),
            let fields = (try? DagCBOR.decode(reply))?.mapValue
        else { return }
        var addresses: [Multiaddr] = []
        // The peerstore keeps a few addresses per peer; a longer list (an answer may fill a 4 MiB
        // frame) is not read, as checking each against those taken so far would cost quadratic time.
        for item in (fields["listen"]?.listValue ?? []).prefix(4 * Peerstore.maxAddressesPerPeer) {
            guard addresses.count < Peerstore.maxAddressesPerPeer else { break }
            guard let raw = item.bytesValue, let announced = try? Multiaddr(bytes: raw), announced.isTCP,
                announced.components.count >= 2,
                let address = try? Multiaddr(components: [ip, announced.components[1]]),
                !addresses.contains(address)
            else { continue }
            addresses.append(address)
        }
        guard !addresses.isEmpty else { return }
        try? peerstore.add(addresses, for: peer)
    }

    func publishPeerRecord() async {
        guard let dht else { return }
        await dht.publishPeerRecord(addresses: dialableAddresses)
    }

    /// Connects to a peer given by multiaddr (`…/p2p/<peer>`), by `/p2p/<peer>` alone or by its
    /// bare peer ID. Without known addresses, the DHT finds the peer's current ones.
    public func connect(_ target: String) async throws -> PeerID {
        let peer: PeerID
        var addresses: [Multiaddr] = []
        if let id = try? PeerID(target) {
            peer = id
        } else {
            let address: Multiaddr
            do { address = try Multiaddr(target) } catch {
                throw NodeError("'\(target)' is neither a multiaddr nor a peer ID: \(error)")
            }
            guard let id = address.peerID else { throw NodeError("\(address) does not end in /p2p/<peer ID>") }
            peer = id
            if address.components.count > 1 { addresses = [address] }
        }
        if peer == peerID { throw NodeError("that is this node's own peer ID") }
        do {
            return try await manager.connect(to: peer, addresses: addresses).remotePeer
        } catch TransportError.noAddresses {
            guard let record = await dht?.findPeer(peer) else {
                throw NodeError("no address known for \(peer), and the DHT has no peer record for it")
            }
            let dialable = record.addresses.filter(\.isTCP)
            guard !dialable.isEmpty else { throw NodeError("the DHT peer record of \(peer) lists no TCP address") }
            return try await manager.connect(to: peer, addresses: dialable).remotePeer
        }
    }

    /// Stops the DHT (saving its table) and closes every connection.
    public func shutdown() async {
        maintenance?.cancel()
        follower?.cancel()
        learner?.cancel()
        await exchange.stop()
        await replicator.stop()
        await dht?.stop()
        await manager.shutdown()
    }
}

/// Provider search for the exchange, through the DHT once it runs.
final class NodeRouting: ProviderRouting {
    let dht = Slot<DHTNode>()

    func findProviders(_ cid: CID, wanted: Int) async -> [(peer: PeerID, addresses: [Multiaddr])] {
        guard let dht = dht.value else { return [] }
        return await dht.findProviders(cid, wanted: wanted).map { ($0.provider, $0.addresses) }
    }
}

/// What this node tells others about where it listens; read from connection handlers.
final class AdvertisedAddresses: Sendable {
    private let state = Mutex<([Multiaddr], Multiaddr?)>(([], nil))

    var current: ([Multiaddr], Multiaddr?) { state.withLock { $0 } }

    func set(listen: [Multiaddr], dht: Multiaddr?) {
        state.withLock { $0 = (listen, dht) }
    }
}

/// A node failure, said in one line.
public struct NodeError: Error, CustomStringConvertible {
    public let description: String
    /// The API's error code (`API.errorStatus`).
    public let code: String
    public init(_ description: String, code: String = "bad_request") {
        self.description = description
        self.code = code
    }
}
