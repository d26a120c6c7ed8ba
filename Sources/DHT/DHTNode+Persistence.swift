import DagCBOR
import Foundation
import Multiformats
import Store

/// The DHT's keys under `/dht/`: `table/<peer>` → contact multiaddr, `providers/<key><peer>` →
/// provider record, `provided/<key>` → CID and addresses of content this node announces.
extension DHTNode {
    static let tablePrefix = Array("table/".utf8)
    static let providersPrefix = Array("providers/".utf8)
    static let providedPrefix = Array("provided/".utf8)

    func loadPersisted() {
        guard let store else { return }
        let now = Self.nowMilliseconds()
        for (_, value) in (try? store.scan(prefix: Self.tablePrefix)) ?? [] {
            guard let address = try? Multiaddr(bytes: value), let peer = address.peerID,
                let endpoint = try? UDPEndpoint(address)
            else { continue }
            table.observe(DHTContact(peer: peer, endpoint: endpoint))
        }
        for (key, value) in (try? store.scan(prefix: Self.providersPrefix)) ?? [] {
            // Copies the store does not keep (expired, unreadable, over a limit) are deleted.
            guard let ipld = try? DagCBOR.decode(value), let record = try? ProviderRecord(ipld: ipld),
                case .stored(let displaced)? = try? providerStore.add(record, now: now)
            else {
                try? store.delete(key)
                continue
            }
            if let displaced { unpersist(displaced) }
        }
        for (_, value) in (try? store.scan(prefix: Self.providedPrefix)) ?? [] {
            guard let fields = (try? DagCBOR.decode(value))?.mapValue, let raw = fields["cid"]?.bytesValue,
                let cid = try? CID(bytes: raw), let announced = try? fields.uint("t"),
                let addresses = try? fields.multiaddrs("a", max: ProviderRecord.maxAddresses)
            else { continue }
            provided[DHTKey(content: cid)] = (cid, addresses, announced)
        }
    }

    /// Rewrites the persisted table in one batch.
    func saveTable() {
        guard let store else { return }
        var batch = WriteBatch()
        for (key, _) in (try? store.scan(prefix: Self.tablePrefix)) ?? [] { store.delete(key, in: &batch) }
        for contact in table.allContacts {
            store.put(Self.tablePrefix + contact.peer.bytes, contact.multiaddr.bytes, in: &batch)
        }
        try? store.database.write(batch)
    }

    /// Adds a record to the provider store, keeping the persisted copies in step: a record kept
    /// is written, one it pushed out of a full key is deleted, one not kept is not written.
    func holdProvider(_ record: ProviderRecord, now: UInt64) throws(ProviderStore.Refusal) {
        guard case .stored(let displaced) = try providerStore.add(record, now: now) else { return }
        persist(record)
        if let displaced { unpersist(displaced) }
    }

    func persist(_ record: ProviderRecord) {
        try? store?.put(Self.providersPrefix + record.key.bytes + record.provider.bytes, record.ipld.encoded)
    }

    func unpersist(_ record: ProviderRecord) {
        try? store?.delete(Self.providersPrefix + record.key.bytes + record.provider.bytes)
    }

    func persistProvided(_ key: DHTKey) {
        guard let entry = provided[key] else { return }
        let value = IPLD.map([
            "cid": .bytes(entry.cid.bytes), "t": .uint(entry.announced),
            "a": .list(entry.addresses.map { .bytes($0.bytes) }),
        ])
        try? store?.put(Self.providedPrefix + key.bytes, value.encoded, sync: true)
    }
}
