import Foundation
import Multiformats
import Sodium
import Testing

@testable import DHT

@Suite("Routing table", .timeLimit(.minutes(5)))
struct RoutingTableTests {
    static func contact(ip: [UInt8] = [10, 0, 0, 1], port: UInt16 = 4006) -> DHTContact {
        DHTContact(peer: Ed25519.PrivateKey().publicKey.peerID, endpoint: try! UDPEndpoint(ip: ip, port: port))
    }

    /// Contacts that all fall in bucket `index` of `table`.
    static func contacts(inBucket index: Int, of table: RoutingTable, count: Int) -> [DHTContact] {
        var out: [DHTContact] = []
        while out.count < count {
            let candidate = contact(port: UInt16(out.count + 1))
            if table.bucketIndex(for: candidate.key) == index { out.append(candidate) }
        }
        return out
    }

    @Test func contactsLandInTheBucketOfTheirCommonPrefixLength() {
        var table = RoutingTable(localPeer: Ed25519.PrivateKey().publicKey.peerID)
        for _ in 0..<300 {
            table.observe(Self.contact())
        }
        for (index, bucket) in table.buckets.enumerated() {
            #expect(bucket.count <= table.limits.k)
            for entry in bucket {
                #expect(table.localKey.commonPrefixLength(with: entry.contact.key) == index)
            }
        }
        // Half of all keys fall in bucket 0, so it is full; the deep buckets stay small.
        #expect(table.bucketSizes[0] == 20)
        #expect(table.count < 300)
    }

    @Test func ownPeerIsNeverAdded() {
        let identity = Ed25519.PrivateKey()
        var table = RoutingTable(localPeer: identity.publicKey.peerID)
        let me = DHTContact(peer: identity.publicKey.peerID, endpoint: Self.contact().endpoint)
        #expect(table.observe(me) == .isSelf)
        #expect(table.count == 0)
    }

    @Test func seenContactsMoveToTheTailAndFullBucketsReportTheOldest() {
        var limits = RoutingTable.Limits()
        limits.k = 3
        limits.replacements = 2
        var table = RoutingTable(localPeer: Ed25519.PrivateKey().publicKey.peerID, limits: limits)
        let members = Self.contacts(inBucket: 0, of: table, count: 6)
        for member in members.prefix(3) { #expect(table.observe(member) == .added) }
        // Seeing the first again makes the second the least recently seen.
        #expect(table.observe(members[0]) == .refreshed)
        #expect(table.observe(members[3]) == .bucketFull(oldest: members[1]))
        // Nothing is evicted without a failed ping.
        #expect(table.contains(members[1].peer))
        #expect(!table.contains(members[3].peer))
        #expect(table.replacementContacts(inBucket: 0) == [members[3]])
        // The replacement cache keeps only the most recent candidates.
        #expect(table.observe(members[4]) == .bucketFull(oldest: members[1]))
        #expect(table.observe(members[5]) == .bucketFull(oldest: members[1]))
        #expect(table.replacementContacts(inBucket: 0) == [members[4], members[5]])
        // The oldest failed its ping: it goes, the freshest replacement takes its place.
        #expect(table.evict(members[1].peer) == members[5])
        #expect(table.buckets[0].map(\.contact) == [members[2], members[0], members[5]])
        #expect(table.replacementContacts(inBucket: 0) == [members[4]])
    }

    @Test func failuresDropAContactAfterTheLimit() {
        var table = RoutingTable(localPeer: Ed25519.PrivateKey().publicKey.peerID)
        let member = Self.contact()
        table.observe(member)
        #expect(table.recordFailure(member.peer) == false)
        #expect(table.contains(member.peer))
        table.observe(member)  // an answer resets the count
        #expect(table.recordFailure(member.peer) == false)
        #expect(table.recordFailure(member.peer) == true)
        #expect(!table.contains(member.peer))

        // Failures of the same peer ID at another endpoint (a liar's answer naming an honest
        // peer at a dead address) do not count against the contact held.
        let honest = Self.contact()
        table.observe(honest)
        let elsewhere = try! UDPEndpoint(ip: [10, 9, 9, 9], port: 9)
        #expect(elsewhere != honest.endpoint)
        for _ in 0..<5 { #expect(table.recordFailure(honest.peer, at: elsewhere) == false) }
        #expect(table.contains(honest.peer))
        #expect(table.recordFailure(honest.peer, at: honest.endpoint) == false)
        #expect(table.recordFailure(honest.peer, at: honest.endpoint) == true)
    }

    @Test func publicRangesAreLimitedPerBucketAndInTotal() {
        var limits = RoutingTable.Limits()
        limits.exemptPrivateRanges = true
        var table = RoutingTable(localPeer: Ed25519.PrivateKey().publicKey.peerID, limits: limits)
        var outcomes: [RoutingTable.Outcome] = []
        for index in 0..<40 {
            // All in 203.0.113.0/24 (a public-looking documentation range).
            outcomes.append(table.observe(Self.contact(ip: [203, 0, 113, UInt8(index)], port: 4006)))
        }
        #expect(table.count <= limits.perRangeTotal)
        #expect(outcomes.filter { $0 == .rejectedRangeLimit }.count == 40 - table.count)
        for bucket in table.buckets { #expect(bucket.count <= limits.perRangePerBucket) }
        // Without the per-bucket cap, the total cap is what stops the range.
        var loose = limits
        loose.perRangePerBucket = 20
        var other = RoutingTable(localPeer: Ed25519.PrivateKey().publicKey.peerID, limits: loose)
        for index in 0..<40 { other.observe(Self.contact(ip: [203, 0, 113, UInt8(index)], port: 4006)) }
        #expect(other.count == limits.perRangeTotal)
        // Another range still gets in.
        #expect(table.observe(Self.contact(ip: [198, 51, 100, 7])) == .added)
    }

    @Test func privateRangesAreExemptUnlessConfigured() {
        var table = RoutingTable(localPeer: Ed25519.PrivateKey().publicKey.peerID)
        for index in 0..<40 { table.observe(Self.contact(ip: [127, 0, 0, 1], port: UInt16(5000 + index))) }
        #expect(table.count > RoutingTable.Limits().perRangeTotal)

        var strict = RoutingTable.Limits()
        strict.exemptPrivateRanges = false
        strict.perRangePerBucket = 20
        var limited = RoutingTable(localPeer: Ed25519.PrivateKey().publicKey.peerID, limits: strict)
        for index in 0..<40 { limited.observe(Self.contact(ip: [127, 0, 0, 1], port: UInt16(5000 + index))) }
        #expect(limited.count == strict.perRangeTotal)
    }

    @Test func closestMatchesBruteForce() {
        var table = RoutingTable(localPeer: Ed25519.PrivateKey().publicKey.peerID)
        for _ in 0..<500 { table.observe(Self.contact()) }
        let all = table.allContacts
        for _ in 0..<20 {
            let target = table.localKey.random(sharingPrefix: Int.random(in: 0..<8))
            let expected = all.sorted { target.distance(to: $0.key) < target.distance(to: $1.key) }.prefix(20)
            #expect(table.closest(to: target, count: 20) == Array(expected))
        }
    }

    @Test func staleBucketsAreThoseNotUsedSinceTheCutoff() {
        let start = Date(timeIntervalSince1970: 1_000_000)
        var table = RoutingTable(localPeer: Ed25519.PrivateKey().publicKey.peerID, now: start)
        for _ in 0..<100 { table.observe(Self.contact()) }
        let later = start + 7200
        table.touch(table.localKey.random(sharingPrefix: 0), now: later)
        let stale = table.staleBuckets(since: start + 3600)
        #expect(!stale.contains(0))
        #expect(stale.contains(1))
    }
}
