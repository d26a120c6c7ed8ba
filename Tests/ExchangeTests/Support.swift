import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Transport

@testable import Exchange

/// A node with a blockstore, a connection manager on loopback and an exchange.
final class TestNode: Sendable {
    let directory: String
    let database: Database
    let blockstore: Blockstore
    let manager: ConnectionManager
    let exchange: Exchange
    let address: Multiaddr
    var peer: PeerID { manager.localPeer }

    /// Exchange options for tests: a long request timeout, so a loaded machine running the whole
    /// suite does not re-request blocks (and count duplicates) that are merely slow.
    static var testOptions: Exchange.Options {
        var options = Exchange.Options()
        options.minimumTimeout = .seconds(15)
        return options
    }

    init(routing: (any ProviderRouting)? = nil, options: Exchange.Options = TestNode.testOptions) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("exchange-\(UUID().uuidString)").path
        database = try Database(path: directory)
        blockstore = Blockstore(database: database)
        var protocols = MuxProtocols()
        let slot = Slot<Exchange>()
        Exchange.register(in: &protocols, slot: slot)
        manager = ConnectionManager(transport: SecureTransport(identity: Ed25519.PrivateKey()), protocols: protocols)
        exchange = Exchange(blockstore: blockstore, manager: manager, routing: routing, options: options)
        slot.value = exchange
        let bound = try await manager.listen(on: try Multiaddr("/ip4/127.0.0.1/tcp/0"))
        address = try bound.encapsulate(Multiaddr("/p2p/\(manager.localPeer)"))
        await exchange.start()
    }

    /// Adds `bytes` as a file DAG and returns its root.
    func add(_ bytes: [UInt8], chunkSize: Int) throws -> CID {
        var builder = FileDAG.Builder(blockstore: blockstore, chunkSize: chunkSize)
        try builder.append(bytes)
        return try builder.finish().root
    }

    /// The file under `root`, read from this node's blockstore.
    func read(_ root: CID) async throws -> [UInt8] {
        let path = directory + "-out-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try require(FileHandle(forWritingAtPath: path))
        let blockstore = self.blockstore
        try await FileDAG.write(root, to: handle) { cid in
            guard let bytes = try blockstore.get(cid) else { throw ExchangeError.notFound(cid) }
            return bytes
        }
        try handle.close()
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func shutdown() async {
        await exchange.stop()
        await manager.shutdown()
        database.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

enum RequireError: Error { case missing }

func require<T>(_ value: T?) throws -> T {
    guard let value else { throw RequireError.missing }
    return value
}

/// Provider routing from a fixed table (the DHT's part, stood in for).
struct StaticRouting: ProviderRouting {
    let providers: [(peer: PeerID, addresses: [Multiaddr])]

    func findProviders(_ cid: CID, wanted: Int) async -> [(peer: PeerID, addresses: [Multiaddr])] { providers }
}

/// `StaticRouting` that counts the searches made.
final class CountingRouting: ProviderRouting, @unchecked Sendable {
    let providers: [(peer: PeerID, addresses: [Multiaddr])]
    private let lock = NSLock()
    private var count = 0

    init(providers: [(peer: PeerID, addresses: [Multiaddr])]) { self.providers = providers }

    var searches: Int { lock.withLock { count } }

    func findProviders(_ cid: CID, wanted: Int) async -> [(peer: PeerID, addresses: [Multiaddr])] {
        lock.withLock { count += 1 }
        return providers
    }
}
