import Foundation
import Multiformats
import Sodium
import Testing

@testable import DHT

@Suite("Provider store", .timeLimit(.minutes(5)))
struct ProviderStoreTests {
    let key = DHTKey(peer: Ed25519.PrivateKey().publicKey.peerID)
    let hour: UInt64 = 3_600_000

    func record(_ identity: Ed25519.PrivateKey = Ed25519.PrivateKey(), key: DHTKey? = nil, issued: UInt64)
        -> ProviderRecord
    {
        ProviderRecord(key: key ?? self.key, addresses: [], issued: issued, identity: identity)
    }

    @Test func recordsExpireAfter48Hours() throws {
        var store = ProviderStore()
        let now: UInt64 = 1_000 * hour
        try store.add(record(issued: now), now: now)
        #expect(store.providers(for: key, now: now + 47 * hour).count == 1)
        #expect(store.providers(for: key, now: now + 48 * hour).isEmpty)
        #expect(store.expire(now: now + 47 * hour).isEmpty)
        #expect(store.expire(now: now + 48 * hour).count == 1)
        #expect(store.count == 0)
        #expect(throws: ProviderStore.Refusal.expired) { try store.add(record(issued: now), now: now + 49 * hour) }
        #expect(throws: ProviderStore.Refusal.fromTheFuture) { try store.add(record(issued: now + hour), now: now) }
    }

    @Test func aNewerRecordReplacesTheOlderOfTheSameProvider() throws {
        var store = ProviderStore()
        let identity = Ed25519.PrivateKey()
        let now: UInt64 = 1_000 * hour
        try store.add(record(identity, issued: now - hour), now: now)
        try store.add(record(identity, issued: now), now: now)
        try store.add(record(identity, issued: now - 2 * hour), now: now)
        #expect(store.providers(for: key, now: now).map(\.issued) == [now])
        #expect(store.count == 1)
    }

    @Test func storageIsBoundedPerKeyPerProviderAndInTotal() throws {
        var limits = ProviderStore.Limits()
        limits.perKey = 3
        limits.perProvider = 2
        limits.total = 5
        var store = ProviderStore(limits: limits)
        let now: UInt64 = 1_000 * hour
        for offset in 0..<5 { try store.add(record(issued: now - UInt64(10 - offset)), now: now) }
        // Only the three newest of one key are kept.
        #expect(store.providers(for: key, now: now).map(\.issued) == [now - 6, now - 7, now - 8])
        let greedy = Ed25519.PrivateKey()
        let keys = (0..<3).map { _ in DHTKey(peer: Ed25519.PrivateKey().publicKey.peerID) }
        try store.add(record(greedy, key: keys[0], issued: now), now: now)
        try store.add(record(greedy, key: keys[1], issued: now), now: now)
        #expect(throws: ProviderStore.Refusal.providerLimit) {
            try store.add(record(greedy, key: keys[2], issued: now), now: now)
        }
        #expect(store.count == 5)
        #expect(throws: ProviderStore.Refusal.full) { try store.add(record(key: keys[2], issued: now), now: now) }
    }
}
