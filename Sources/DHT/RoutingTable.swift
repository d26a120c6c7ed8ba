import Foundation
import Multiformats

/// The Kademlia routing table: 256 buckets by common-prefix length with the local node ID, each
/// holding at most `k` contacts in least-recently-seen order plus a small replacement cache.
///
/// A full bucket never drops a contact that still answers: the caller pings the least recently
/// seen one and evicts it only when that ping fails (`evict`), which promotes the freshest
/// replacement. Per-range limits keep one address range from filling the table (eclipse hygiene).
public struct RoutingTable: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Contacts per bucket.
        public var k = 20
        /// Candidates kept per bucket for when a contact dies.
        public var replacements = 10
        /// Contacts from one address range (IPv4 /24, IPv6 /48) in one bucket.
        public var perRangePerBucket = 2
        /// Contacts from one address range in the whole table.
        public var perRangeTotal = 10
        /// Whether loopback and private ranges are exempt from the per-range limits. They are by
        /// default: every node of a LAN shares one private range, and limiting it would cap a LAN
        /// deployment at a handful of peers.
        public var exemptPrivateRanges = true
        /// Failed requests after which a contact is dropped.
        public var maxFailures = 2

        public init() {}
    }

    public struct Entry: Sendable, Equatable {
        public var contact: DHTContact
        /// When the contact last answered or sent a valid message.
        public var lastSeen: Date
        public var failures = 0
    }

    /// What `observe` did with a contact.
    public enum Outcome: Sendable, Equatable {
        case added
        case refreshed
        /// The bucket is full: the contact waits in the replacement cache; ping `oldest` and call
        /// `evict(oldest.peer)` when it does not answer.
        case bucketFull(oldest: DHTContact)
        case rejectedRangeLimit
        case isSelf
    }

    public let localKey: DHTKey
    public let limits: Limits
    var buckets: [[Entry]]
    var replacementCaches: [[Entry]]
    /// When each bucket was last looked up in or refreshed.
    var lastUsed: [Date]

    public init(localPeer: PeerID, limits: Limits = Limits(), now: Date = Date()) {
        localKey = DHTKey(peer: localPeer)
        self.limits = limits
        buckets = Array(repeating: [], count: DHTKey.bitCount)
        replacementCaches = Array(repeating: [], count: DHTKey.bitCount)
        lastUsed = Array(repeating: now, count: DHTKey.bitCount)
    }

    /// The bucket a key belongs in: its common-prefix length with the local key (nil for the local
    /// key itself).
    public func bucketIndex(for key: DHTKey) -> Int? {
        let cpl = localKey.commonPrefixLength(with: key)
        return cpl == DHTKey.bitCount ? nil : cpl
    }

    /// Number of contacts in the table.
    public var count: Int { buckets.reduce(0) { $0 + $1.count } }

    /// Contacts in each bucket (index = common-prefix length).
    public var bucketSizes: [Int] { buckets.map(\.count) }

    public var allContacts: [DHTContact] { buckets.flatMap { $0.map(\.contact) } }

    public func entry(for peer: PeerID) -> Entry? {
        guard let index = bucketIndex(for: DHTKey(peer: peer)) else { return nil }
        return buckets[index].first { $0.contact.peer == peer }
    }

    public func contains(_ peer: PeerID) -> Bool { entry(for: peer) != nil }

    public func replacementContacts(inBucket index: Int) -> [DHTContact] {
        replacementCaches[index].map(\.contact)
    }

    private func rangeExempt(_ endpoint: UDPEndpoint) -> Bool {
        limits.exemptPrivateRanges && endpoint.isPrivate
    }

    private func rangeCount(_ group: [UInt8], in entries: [Entry]) -> Int {
        entries.reduce(0) { $0 + ($1.contact.endpoint.rangeGroup == group ? 1 : 0) }
    }

    private func fitsRangeLimits(_ contact: DHTContact, bucket: Int) -> Bool {
        if rangeExempt(contact.endpoint) { return true }
        let group = contact.endpoint.rangeGroup
        if rangeCount(group, in: buckets[bucket]) >= limits.perRangePerBucket { return false }
        return buckets.reduce(0) { $0 + rangeCount(group, in: $1) } < limits.perRangeTotal
    }

    /// Records that `contact` is alive (it answered, or sent a valid request).
    @discardableResult
    public mutating func observe(_ contact: DHTContact, now: Date = Date()) -> Outcome {
        guard let index = bucketIndex(for: contact.key) else { return .isSelf }
        if let position = buckets[index].firstIndex(where: { $0.contact.peer == contact.peer }) {
            var entry = buckets[index].remove(at: position)
            if entry.contact.endpoint != contact.endpoint {
                // A moved peer: only accept the new endpoint if it fits the range limits.
                let old = entry.contact
                entry.contact = contact
                if !fitsRangeLimits(contact, bucket: index) { entry.contact = old }
            }
            entry.lastSeen = now
            entry.failures = 0
            buckets[index].append(entry)
            return .refreshed
        }
        guard fitsRangeLimits(contact, bucket: index) else { return .rejectedRangeLimit }
        let entry = Entry(contact: contact, lastSeen: now)
        if buckets[index].count < limits.k {
            buckets[index].append(entry)
            replacementCaches[index].removeAll { $0.contact.peer == contact.peer }
            return .added
        }
        replacementCaches[index].removeAll { $0.contact.peer == contact.peer }
        replacementCaches[index].append(entry)
        if replacementCaches[index].count > limits.replacements { replacementCaches[index].removeFirst() }
        return .bucketFull(oldest: buckets[index][0].contact)
    }

    /// Removes `peer` (it failed a ping) and promotes the most recently seen replacement that fits.
    @discardableResult
    public mutating func evict(_ peer: PeerID) -> DHTContact? {
        guard let index = bucketIndex(for: DHTKey(peer: peer)) else { return nil }
        replacementCaches[index].removeAll { $0.contact.peer == peer }
        guard let position = buckets[index].firstIndex(where: { $0.contact.peer == peer }) else { return nil }
        buckets[index].remove(at: position)
        while let candidate = replacementCaches[index].popLast() {
            if fitsRangeLimits(candidate.contact, bucket: index) {
                buckets[index].append(candidate)
                return candidate.contact
            }
        }
        return nil
    }

    /// Counts a failed request to `peer`; drops it after `maxFailures`. Returns true when dropped.
    @discardableResult
    public mutating func recordFailure(_ peer: PeerID, at endpoint: UDPEndpoint? = nil) -> Bool {
        // A failure at another endpoint than the one held says nothing of this contact: anyone
        // can name an honest peer ID at a dead address in an answer.
        func matches(_ contact: DHTContact) -> Bool {
            contact.peer == peer && (endpoint == nil || contact.endpoint == endpoint)
        }
        guard let index = bucketIndex(for: DHTKey(peer: peer)),
            let position = buckets[index].firstIndex(where: { matches($0.contact) })
        else {
            if let index = bucketIndex(for: DHTKey(peer: peer)) {
                replacementCaches[index].removeAll { matches($0.contact) }
            }
            return false
        }
        buckets[index][position].failures += 1
        guard buckets[index][position].failures >= limits.maxFailures else { return false }
        evict(peer)
        return true
    }

    /// The `count` contacts closest to `key`, closest first.
    public func closest(to key: DHTKey, count: Int) -> [DHTContact] {
        // Buckets at the target's prefix length and beyond hold the closest contacts; scanning all
        // of them is at most 256 * k entries and keeps this obviously correct.
        var all = buckets.flatMap { $0.map(\.contact) }
        all.sort { key.isCloser($0.key, than: $1.key) }
        return Array(all.prefix(count))
    }

    /// Marks the bucket `key` falls in as used now (a lookup went there).
    public mutating func touch(_ key: DHTKey, now: Date = Date()) {
        if let index = bucketIndex(for: key) { lastUsed[index] = now }
    }

    /// Indexes of buckets that are not used since `cutoff`, limited to the ones that can hold
    /// anyone: past the deepest non-empty bucket plus one, buckets stay empty in any real network.
    public func staleBuckets(since cutoff: Date) -> [Int] {
        let deepest = (buckets.lastIndex { !$0.isEmpty } ?? 0) + 1
        return (0...min(deepest, DHTKey.bitCount - 1)).filter { lastUsed[$0] < cutoff }
    }
}
