import Exchange
import Foundation
import Multiformats

/// `threads add` and `threads get` on the daemon: files in and out of the blockstore, announced
/// and found through the DHT, fetched through the exchange.
extension ThreadsNode {
    /// Chunks the file at `path` into the blockstore, announces the root in the DHT and returns
    /// it with the file's size and how many DHT nodes stored the provider record.
    public nonisolated func add(
        path: String,
        chunkSize: Int = FileDAG.defaultChunkSize
    ) async throws -> (root: CID, size: UInt64, announced: Int) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw NodeError("cannot open \(path) for reading")
        }
        defer { try? handle.close() }
        let (root, size) = try FileDAG.add(from: handle, to: repo.blockstore, chunkSize: chunkSize)
        await exchange.blocksAdded([root])
        let announced = await dht?.provide(root, addresses: dialableAddresses.filter(\.isTCP)) ?? 0
        return (root, size, announced)
    }

    /// Fetches the file DAG under `root` from the network (connected peers, then providers found
    /// in the DHT) and writes it to `path` (through a temporary file, renamed when complete).
    public nonisolated func get(
        _ root: CID,
        to path: String
    ) async throws -> (bytes: UInt64, fetchSeconds: Double) {
        let started = ContinuousClock.now
        _ = try await exchange.fetch(root)
        let elapsed = ContinuousClock.now - started
        let fetchSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let temporary = path + ".part"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
            let output = FileHandle(forWritingAtPath: temporary)
        else { throw NodeError("cannot create \(temporary)") }
        do {
            let blockstore = repo.blockstore
            let written = try await FileDAG.write(root, to: output) { cid in
                guard let bytes = try blockstore.get(cid) else {
                    throw NodeError("block \(cid) vanished from the store")
                }
                return bytes
            }
            try output.synchronize()
            try output.close()
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temporary, toPath: path)
            return (written, fetchSeconds)
        } catch {
            try? output.close()
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }
}
