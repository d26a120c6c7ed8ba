import Multiformats
import Store
import Synchronization

/// Known addresses of peers, kept in the Store under `/peers/<binary peer ID>`.
///
/// Value: the addresses as a sequence of `varint(length) ‖ binary multiaddr`. Addresses that no
/// longer parse (written by a newer version) are skipped when read, never fatal.
///
/// At most `maxPeers` peers are kept: adding one more forgets the peer whose addresses were added
/// longest ago (peers already stored when the node started count as older than any added since).
/// Anyone can make identities and connect, and each would otherwise stay on disk for good. The
/// order lives in memory, shared by copies of one `Peerstore`: a node adds through one instance.
public struct Peerstore: Sendable {
    private let space: Keyspace
    private let recency: Recency
    /// Addresses kept per peer; the most recently added win.
    public static let maxAddressesPerPeer = 16
    /// Peers kept in all, by default.
    public static let defaultMaxPeers = 4096
    public let maxPeers: Int

    /// Stored peers, least recently added first; read from the store at the first `add`.
    private final class Recency: Sendable {
        let order = Mutex<[PeerID]?>(nil)
    }

    public init(database: Database, maxPeers: Int = Peerstore.defaultMaxPeers) {
        space = Keyspace(database, prefix: Keyspace.peers)
        recency = Recency()
        self.maxPeers = max(1, maxPeers)
    }

    /// The stored addresses of `peer` (empty when unknown).
    public func addresses(of peer: PeerID) throws -> [Multiaddr] {
        guard let value = try space.get(peer.bytes) else { return [] }
        return Self.decode(value)
    }

    /// Adds addresses for `peer`, most recent first, without duplicates; past `maxPeers`, the
    /// least recently added peer is forgotten.
    public func add(_ addresses: [Multiaddr], for peer: PeerID) throws {
        var merged = addresses
        for old in try self.addresses(of: peer) where !merged.contains(old) { merged.append(old) }
        try recency.order.withLock { loaded throws in
            var order = try loaded ?? peers()
            order.removeAll { $0 == peer }
            order.append(peer)
            var batch = WriteBatch()
            space.put(peer.bytes, Self.encode(Array(merged.prefix(Self.maxAddressesPerPeer))), in: &batch)
            let forgotten = order.prefix(max(0, order.count - maxPeers))
            for old in forgotten { space.delete(old.bytes, in: &batch) }
            try space.database.write(batch)
            order.removeFirst(forgotten.count)
            loaded = order
        }
    }

    /// Forgets a peer.
    public func remove(_ peer: PeerID) throws {
        try recency.order.withLock { loaded throws in
            try space.delete(peer.bytes)
            loaded?.removeAll { $0 == peer }
        }
    }

    /// Every known peer.
    public func peers() throws -> [PeerID] {
        try space.scan().compactMap { try? PeerID(bytes: $0.key) }
    }

    static func encode(_ addresses: [Multiaddr]) -> [UInt8] {
        var out: [UInt8] = []
        for address in addresses {
            Varint.encode(UInt64(address.bytes.count), into: &out)
            out += address.bytes
        }
        return out
    }

    static func decode(_ value: [UInt8]) -> [Multiaddr] {
        var out: [Multiaddr] = []
        var offset = 0
        while offset < value.count {
            guard let (length, used) = try? Varint.decode(value[offset...]),
                length <= UInt64(value.count - offset - used)
            else {
                break
            }
            offset += used
            if let address = try? Multiaddr(bytes: value[offset..<offset + Int(length)]) { out.append(address) }
            offset += Int(length)
        }
        return out
    }
}
