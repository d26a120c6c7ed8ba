import Foundation
import Multiformats

/// The provider records a server holds for others, bounded per key, per provider and in total, and
/// forgotten when they expire.
public struct ProviderStore: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Providers kept per key (newest records first).
        public var perKey = 20
        /// Keys one provider may have records for on this server.
        public var perProvider = 1024
        /// Records in all.
        public var total = 65_536
        /// How long a record lasts after it was signed.
        public var ttl: Duration = .seconds(48 * 3600)
        /// How far in the future a record's time may be (clock skew between peers).
        public var maxClockSkew: Duration = .seconds(300)
        public init() {}
    }

    /// Why a record was refused.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case expired
        case fromTheFuture
        case providerLimit
        case full

        public var description: String {
            switch self {
            case .expired: "the record has expired"
            case .fromTheFuture: "the record is dated in the future"
            case .providerLimit: "the provider has too many records here"
            case .full: "this server holds all the records it can"
            }
        }
    }

    public let limits: Limits
    private(set) var records: [DHTKey: [PeerID: ProviderRecord]] = [:]
    private(set) var keysPerProvider: [PeerID: Int] = [:]
    public private(set) var count = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    static func milliseconds(_ duration: Duration) -> UInt64 {
        UInt64(max(0, duration.components.seconds)) * 1000
            + UInt64(duration.components.attoseconds / 1_000_000_000_000_000)
    }

    public func expiry(of record: ProviderRecord) -> UInt64 {
        record.issued &+ Self.milliseconds(limits.ttl)
    }

    /// What `add` did with a record, so that a persisted copy follows the store.
    public enum Outcome: Equatable, Sendable {
        /// Kept; `displaced` is the record it pushed out of a full key, if any.
        case stored(displaced: ProviderRecord?)
        /// Not kept: the same provider's record here is as new, or the key is full of newer ones.
        case unchanged
    }

    /// Stores a record (already signature-checked). A newer record from the same provider replaces
    /// the older; when a key is full, a newer record displaces the oldest one.
    @discardableResult
    public mutating func add(_ record: ProviderRecord, now: UInt64) throws(Refusal) -> Outcome {
        guard expiry(of: record) > now else { throw .expired }
        guard record.issued <= now + Self.milliseconds(limits.maxClockSkew) else { throw .fromTheFuture }
        var providers = records[record.key] ?? [:]
        if let existing = providers[record.provider] {
            guard existing.issued < record.issued else { return .unchanged }
            providers[record.provider] = record
            records[record.key] = providers
            return .stored(displaced: nil)
        }
        guard (keysPerProvider[record.provider] ?? 0) < limits.perProvider else { throw .providerLimit }
        guard count < limits.total || providers.count >= limits.perKey else { throw .full }
        var displaced: ProviderRecord?
        if providers.count >= limits.perKey {
            guard let oldest = providers.values.min(by: { $0.issued < $1.issued }), oldest.issued < record.issued
            else { return .unchanged }
            remove(oldest.provider, from: &providers)
            displaced = oldest
        }
        providers[record.provider] = record
        records[record.key] = providers
        keysPerProvider[record.provider, default: 0] += 1
        count += 1
        return .stored(displaced: displaced)
    }

    private mutating func remove(_ provider: PeerID, from providers: inout [PeerID: ProviderRecord]) {
        guard providers.removeValue(forKey: provider) != nil else { return }
        count -= 1
        keysPerProvider[provider, default: 1] -= 1
        if keysPerProvider[provider] == 0 { keysPerProvider[provider] = nil }
    }

    /// The unexpired records for `key`, newest first.
    public func providers(for key: DHTKey, now: UInt64) -> [ProviderRecord] {
        (records[key]?.values ?? [:].values).filter { expiry(of: $0) > now }.sorted { $0.issued > $1.issued }
    }

    /// Forgets expired records; returns them so the caller can delete their persisted copies.
    @discardableResult
    public mutating func expire(now: UInt64) -> [ProviderRecord] {
        var removed: [ProviderRecord] = []
        for (key, var providers) in records {
            for record in providers.values where expiry(of: record) <= now {
                remove(record.provider, from: &providers)
                removed.append(record)
            }
            records[key] = providers.isEmpty ? nil : providers
        }
        return removed
    }

    public func keyCount(of provider: PeerID) -> Int { keysPerProvider[provider] ?? 0 }
}
