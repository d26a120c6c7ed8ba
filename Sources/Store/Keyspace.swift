import Foundation

/// A typed region of the datastore: every key is stored under a fixed prefix (`/blocks/`,
/// `/threads/`, …), so keyspaces never see each other's keys.
public struct Keyspace: Sendable {
    public let database: Database
    public let prefix: [UInt8]

    /// The keyspaces of DESIGN.md section 3.
    public static let blocks = "/blocks/"
    public static let threads = "/threads/"
    public static let logs = "/logs/"
    public static let dht = "/dht/"
    public static let peers = "/peers/"
    public static let meta = "/meta/"
    public static let db = "/db/"

    public init(_ database: Database, prefix: String) {
        self.database = database
        self.prefix = Array(prefix.utf8)
    }

    /// The full datastore key for a key of this keyspace.
    public func key(_ key: [UInt8]) -> [UInt8] {
        prefix + key
    }

    public func get(_ key: [UInt8], snapshot: Snapshot? = nil) throws(StoreError) -> [UInt8]? {
        try database.get(prefix: prefix, key, snapshot: snapshot)
    }

    /// The value without a copy (see `Database.getData`).
    public func getData(_ key: [UInt8], snapshot: Snapshot? = nil) throws(StoreError) -> Data? {
        try database.getData(prefix: prefix, key, snapshot: snapshot)
    }

    public func put(_ key: [UInt8], _ value: [UInt8], sync: Bool = false) throws(StoreError) {
        try database.put(self.key(key), value, sync: sync)
    }

    public func delete(_ key: [UInt8], sync: Bool = false) throws(StoreError) {
        try database.delete(self.key(key), sync: sync)
    }

    /// Adds a put to `batch`, so writes to several keyspaces can land atomically.
    public func put(_ key: [UInt8], _ value: [UInt8], in batch: inout WriteBatch) {
        batch.put(self.key(key), value)
    }

    public func delete(_ key: [UInt8], in batch: inout WriteBatch) {
        batch.delete(self.key(key))
    }

    /// Entries of this keyspace whose key (without the keyspace prefix) starts with `prefix`, in
    /// byte order, from the first at or after `start` (also without the keyspace prefix; the whole
    /// prefix when nil), at most `limit` of them; the yielded keys have the keyspace prefix removed.
    /// A start key reads a run of consecutive keys with one iterator instead of a read per key.
    public func scan(
        prefix sub: [UInt8] = [],
        from start: [UInt8]? = nil,
        limit: Int = .max,
        snapshot: Snapshot? = nil
    ) throws(StoreError) -> [(key: [UInt8], value: [UInt8])] {
        let iterator = try database.scan(prefix: prefix + sub, from: start.map { prefix + $0 }, snapshot: snapshot)
        var out: [(key: [UInt8], value: [UInt8])] = []
        while out.count < limit, let (key, value) = iterator.next() {
            out.append((Array(key.dropFirst(prefix.count)), value))
        }
        try iterator.checkError()
        return out
    }

    /// Visits entries one at a time without collecting them (for keyspaces too large for memory).
    public func forEach(prefix sub: [UInt8] = [], snapshot: Snapshot? = nil, _ body: ([UInt8], [UInt8]) throws -> Bool)
        throws
    {
        let iterator = try database.scan(prefix: prefix + sub, snapshot: snapshot)
        while let (key, value) = iterator.next() {
            guard try body(Array(key.dropFirst(prefix.count)), value) else { break }
        }
        try iterator.checkError()
    }
}
