import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store

/// The CPU a fetch of 256 KiB blocks cannot avoid, per byte, measured in this process on this
/// machine: the provider reads each block from its LevelDB blockstore and seals it; the fetcher
/// opens it, hashes it against its CID and writes it to its own blockstore. Add the kernel's TCP
/// work per byte (the raw TCP run's) and no exchange, however it schedules its wants, can move
/// more bytes per second than the cores divided by that sum.
///
/// Each part is measured on its own, in cache, with no I/O waits, so the sum is a floor and the
/// ceiling it gives is generous.
struct ExchangeCeiling {
    /// Seconds of CPU per byte.
    var store: Double
    var read: Double
    var hash: Double
    var cipher: CipherRates

    static let blockSize = 256 << 10

    /// Measures over `bytes` of random 256 KiB blocks, in a scratch database under `directory`
    /// (removed afterwards), with the node's own LevelDB options.
    static func measure(bytes: Int, directory: String) throws -> ExchangeCeiling {
        let count = max(8, bytes / blockSize)
        let seed = Random.bytes(count: blockSize)
        // Distinct, incompressible blocks: the seed with the block's number over its first bytes.
        let contents: [[UInt8]] = (0..<count).map { index in
            var bytes = seed
            withUnsafeBytes(of: UInt64(index).littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
            return bytes
        }
        var cids: [CID] = []
        cids.reserveCapacity(count)
        let hashStart = CPUTime.now
        for bytes in contents {
            cids.append(CID.v1(codec: Multicodec.raw, multihash: try Multihash.hash(bytes, using: .sha2_256)))
        }
        let hashCPU = CPUTime.now.seconds(since: hashStart)
        let blocks = zip(cids, contents).map { Block(unchecked: $0, bytes: $1) }

        let path = directory + "/ceiling-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        // As the fetcher stores them: about 1 MiB of blocks (one exchange message) per write.
        let storeStart = CPUTime.now
        var database = try Database(path: path, options: .init(createIfMissing: true))
        var blockstore = Blockstore(database: database)
        for first in stride(from: 0, to: count, by: 4) {
            try blockstore.put(Array(blocks[first..<min(first + 4, count)]))
        }
        database.close()
        let storeCPU = CPUTime.now.seconds(since: storeStart)

        database = try Database(path: path, options: .init(createIfMissing: false))
        blockstore = Blockstore(database: database)
        let readStart = CPUTime.now
        for cid in cids {
            guard try blockstore.get(cid) != nil else { throw CLIError("a stored block is missing: \(cid)") }
        }
        let readCPU = CPUTime.now.seconds(since: readStart)
        database.close()

        let total = Double(count * blockSize)
        return ExchangeCeiling(
            store: storeCPU / total,
            read: readCPU / total,
            hash: hashCPU / total,
            cipher: CipherRates.measure(bytes: min(bytes, 256 << 20))
        )
    }

    /// Seconds of CPU per byte of everything but TCP.
    var perByte: Double { store + read + hash + 1 / cipher.bestSeal + 1 / cipher.bestOpen }

    /// The most bytes per second `cores` cores can move, given TCP's own CPU per byte.
    func ceiling(tcp: Double, cores: Double) -> Double { cores / (tcp + perByte) }
}
