import DagCBOR
import Foundation
import Multiformats

/// Blocks by CID in the `/blocks/` keyspace, with a block count and total size kept exactly.
///
/// Layout: `/blocks/<binary CID>` -> block bytes. The key is the whole CID, not only its multihash,
/// so the same bytes stored as raw and as dag-cbor are two entries, each readable by the CID it was
/// stored under. `/meta/blocks` holds `count` and `size` as two big-endian UInt64s, updated in the
/// same atomic batch as the blocks, so they are right after any crash.
public final class Blockstore: Sendable {
    public let database: Database
    private let blocks: Keyspace
    private let meta: Keyspace
    /// Shared by every blockstore over the same database, so two of them cannot miscount.
    private var counters: BlockCounters { database.blockCounters }

    static let statsKey = Array("blocks".utf8)

    public init(database: Database) {
        self.database = database
        blocks = Keyspace(database, prefix: Keyspace.blocks)
        meta = Keyspace(database, prefix: Keyspace.meta)
    }

    /// Whether the block is stored.
    public func has(_ cid: CID) throws(StoreError) -> Bool {
        try blocks.get(cid.bytes) != nil
    }

    /// The block's bytes, or nil when it is not stored.
    ///
    /// - Parameter verify: rehash the bytes and compare with the CID; a mismatch (disk corruption, a
    ///   tampered datastore) throws `corruptBlock` instead of returning wrong data.
    public func get(_ cid: CID, verify: Bool = false) throws(StoreError) -> [UInt8]? {
        guard let bytes = try blocks.get(cid.bytes) else { return nil }
        if verify && !cid.multihash.verify(bytes) { throw .corruptBlock(cid: cid.description) }
        return bytes
    }

    /// The block's bytes without a copy out of LevelDB's buffer (for serving and writing blocks).
    public func getData(_ cid: CID, verify: Bool = false) throws(StoreError) -> Data? {
        guard let data = try blocks.getData(cid.bytes) else { return nil }
        if verify && !data.withUnsafeBytes({ cid.multihash.verify($0) }) { throw .corruptBlock(cid: cid.description) }
        return data
    }

    /// The block's size in bytes, or nil when it is not stored.
    public func size(of cid: CID) throws(StoreError) -> Int? {
        try blocks.get(cid.bytes)?.count
    }

    /// Makes every block stored so far durable (after puts made without `sync`).
    public func sync() throws(StoreError) {
        try database.sync()
    }

    /// Stores one block (a no-op when it is already stored).
    public func put(_ block: Block, sync: Bool = false) throws(StoreError) {
        try put([block], sync: sync)
    }

    /// Stores many blocks in one atomic batch.
    public func put(_ blocks: [Block], sync: Bool = false) throws(StoreError) {
        try put(blocks, alongWith: WriteBatch(), sync: sync)
    }

    /// Stores blocks and applies `extra` (index entries, a log head) in the same atomic batch, so
    /// after a crash either both are there or neither: a head never points at a missing block.
    /// `new` skips the per-block "already stored?" reads and the duplicate check, for distinct
    /// blocks the caller just made and that cannot exist yet (they hold fresh random nonces); the
    /// counters then assume they are new.
    public func put(_ blocks: [Block], alongWith extra: WriteBatch, sync: Bool = false, new: Bool = false)
        throws(StoreError)
    {
        counters.lock.lock()
        defer { counters.lock.unlock() }
        var (count, size) = try lockedStats()
        var batch = WriteBatch()
        // Fresh blocks are distinct by construction; hashing each CID to find duplicates is
        // measurable on the append path, so only blocks that may repeat are checked.
        var seen = Set<CID>()
        for block in blocks {
            if !new {
                guard seen.insert(block.cid).inserted, try !has(block.cid) else { continue }
            }
            self.blocks.put(block.cid.bytes, block.bytes, in: &batch)
            count += 1
            size += UInt64(block.bytes.count)
        }
        guard !batch.isEmpty || !extra.isEmpty else { return }
        if !batch.isEmpty { meta.put(Blockstore.statsKey, Blockstore.encodeStats(count, size), in: &batch) }
        batch.append(contentsOf: extra)
        try database.write(batch, sync: sync)
        counters.cached = (count, size)
    }

    /// Removes a block; returns whether it was there.
    @discardableResult
    public func delete(_ cid: CID, sync: Bool = false) throws(StoreError) -> Bool {
        counters.lock.lock()
        defer { counters.lock.unlock() }
        guard let existing = try blocks.get(cid.bytes) else { return false }
        var (count, size) = try lockedStats()
        count -= min(count, 1)
        size -= min(size, UInt64(existing.count))
        var batch = WriteBatch()
        blocks.delete(cid.bytes, in: &batch)
        meta.put(Blockstore.statsKey, Blockstore.encodeStats(count, size), in: &batch)
        try database.write(batch, sync: sync)
        counters.cached = (count, size)
        return true
    }

    /// The counters, from memory after the first read. Call with `counters.lock` held.
    private func lockedStats() throws(StoreError) -> (count: UInt64, size: UInt64) {
        if let cached = counters.cached { return cached }
        let stats = try stats()
        counters.cached = stats
        return stats
    }

    /// Number of stored blocks.
    public var count: UInt64 {
        get throws(StoreError) { try stats().count }
    }

    /// Total bytes of stored blocks.
    public var totalSize: UInt64 {
        get throws(StoreError) { try stats().size }
    }

    /// Every stored CID, in key order.
    public func allCIDs() throws(StoreError) -> [CID] {
        var out: [CID] = []
        for (key, _) in try blocks.scan() {
            guard let cid = try? CID(bytes: key) else {
                throw .invalidValue(key: "/blocks/…", reason: "a key that is not a binary CID")
            }
            out.append(cid)
        }
        return out
    }

    private func stats() throws(StoreError) -> (count: UInt64, size: UInt64) {
        guard let value = try meta.get(Blockstore.statsKey) else { return (0, 0) }
        guard value.count == 16 else {
            throw .invalidValue(key: "/meta/blocks", reason: "expected 16 bytes, found \(value.count)")
        }
        func read(_ offset: Int) -> UInt64 { value[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        return (read(0), read(8))
    }

    static func encodeStats(_ count: UInt64, _ size: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: count >> UInt64(56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: size >> UInt64(56 - 8 * $0)) }
    }
}

/// Serialises blockstore writers on one database and caches the counters they maintain: a put must
/// see whether a block exists before it counts it, and re-reading the counters on every put would
/// cost a LevelDB read.
final class BlockCounters: @unchecked Sendable {
    // `cached` is only touched with `lock` held.
    let lock = NSLock()
    var cached: (count: UInt64, size: UInt64)?
}
