import Multiformats
import Store

/// Known addresses of peers, kept in the Store under `/peers/<binary peer ID>`.
///
/// Value: the addresses as a sequence of `varint(length) ‖ binary multiaddr`. Addresses that no
/// longer parse (written by a newer version) are skipped when read, never fatal.
public struct Peerstore: Sendable {
    private let space: Keyspace
    /// Addresses kept per peer; the most recently added win.
    public static let maxAddressesPerPeer = 16

    public init(database: Database) {
        space = Keyspace(database, prefix: Keyspace.peers)
    }

    /// The stored addresses of `peer` (empty when unknown).
    public func addresses(of peer: PeerID) throws -> [Multiaddr] {
        guard let value = try space.get(peer.bytes) else { return [] }
        return Self.decode(value)
    }

    /// Adds addresses for `peer`, most recent first, without duplicates.
    public func add(_ addresses: [Multiaddr], for peer: PeerID) throws {
        var merged = addresses
        for old in try self.addresses(of: peer) where !merged.contains(old) { merged.append(old) }
        try space.put(peer.bytes, Self.encode(Array(merged.prefix(Self.maxAddressesPerPeer))), sync: false)
    }

    /// Forgets a peer.
    public func remove(_ peer: PeerID) throws {
        try space.delete(peer.bytes)
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
