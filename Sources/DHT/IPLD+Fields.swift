import DagCBOR
import Multiformats

/// Typed field access for the DHT's DAG-CBOR maps, failing with `DHTError.malformed` that names
/// the field.
extension [String: IPLD] {
    func bytes(_ field: String, count: Int? = nil) throws(DHTError) -> [UInt8] {
        guard let value = self[field]?.bytesValue else { throw .malformed("missing byte string '\(field)'") }
        if let count, value.count != count {
            throw .malformed("'\(field)' has \(value.count) bytes, expected \(count)")
        }
        return value
    }

    func uint(_ field: String) throws(DHTError) -> UInt64 {
        guard let value = self[field]?.integerValue, !value.isNegative else {
            throw .malformed("missing unsigned integer '\(field)'")
        }
        return value.argument
    }

    func string(_ field: String) throws(DHTError) -> String {
        guard let value = self[field]?.stringValue else { throw .malformed("missing string '\(field)'") }
        return value
    }

    func list(_ field: String, max: Int) throws(DHTError) -> [IPLD] {
        guard let value = self[field]?.listValue else { throw .malformed("missing list '\(field)'") }
        guard value.count <= max else {
            throw .malformed("'\(field)' has \(value.count) items, at most \(max) allowed")
        }
        return value
    }

    func map(_ field: String) throws(DHTError) -> [String: IPLD] {
        guard let value = self[field]?.mapValue else { throw .malformed("missing map '\(field)'") }
        return value
    }

    func peer(_ field: String) throws(DHTError) -> PeerID {
        let raw = try bytes(field)
        do { return try PeerID(bytes: raw) } catch { throw .malformed("'\(field)' is not a peer ID: \(error)") }
    }

    /// Addresses in records: a host and a port, perhaps a peer ID, in at most this many bytes
    /// and components. Longer ones name nothing dialable, and a held record's parsed addresses
    /// take tens of times their size in memory.
    static let maxAddressBytes = 256
    static let maxAddressComponents = 8

    func multiaddrs(_ field: String, max: Int) throws(DHTError) -> [Multiaddr] {
        var out: [Multiaddr] = []
        for item in try list(field, max: max) {
            guard let raw = item.bytesValue else { throw .malformed("'\(field)' holds a non-bytes item") }
            guard raw.count <= Self.maxAddressBytes else {
                throw .malformed("'\(field)' holds an address of \(raw.count) bytes (at most \(Self.maxAddressBytes))")
            }
            let address: Multiaddr
            do { address = try Multiaddr(bytes: raw) } catch {
                throw .malformed("'\(field)' holds a bad multiaddr: \(error)")
            }
            guard address.components.count <= Self.maxAddressComponents else {
                throw .malformed(
                    "'\(field)' holds an address of \(address.components.count) components (at most \(Self.maxAddressComponents))"
                )
            }
            out.append(address)
        }
        return out
    }

    /// Only these keys may appear: a strict reader so two encodings never mean the same thing.
    func allowOnly(_ keys: Set<String>, in what: String) throws(DHTError) {
        if let unknown = self.keys.sorted().first(where: { !keys.contains($0) }) {
            throw .malformed("unknown field '\(unknown)' in \(what)")
        }
    }
}

extension IPLD {
    static func uint(_ value: UInt64) -> IPLD { .integer(IPLDInteger(value)) }

    /// DAG-CBOR of a value the DHT built itself; such values are always encodable.
    var encoded: [UInt8] {
        // Values built by this module hold only maps, lists, strings, bytes and unsigned ints.
        try! DagCBOR.encode(self)
    }
}
