import DagCBOR
import Foundation
import Multiformats
import Store
import Testing
import ThreadsTestKit

@testable import Exchange

@Suite("File DAGs")
struct FileDAGTests {
    func depths(_ root: CID, _ blockstore: Blockstore, depth: Int = 0) throws -> [Int] {
        let bytes = try require(try blockstore.get(root))
        if root.codec == Multicodec.raw { return [depth] }
        return try FileDAG.Node(cid: root, bytes: bytes).links.flatMap {
            try depths($0.cid, blockstore, depth: depth + 1)
        }
    }

    @Test(arguments: [0, 1, 15, 16, 17, 1024 * 16, 1024 * 16 + 1, 40_000])
    func filesRoundTripAndStayBalanced(size: Int) async throws {
        let node = try await TestNode()
        defer { Task { await node.shutdown() } }
        var rng = SeededGenerator(seed: UInt64(size))
        let bytes = rng.bytes(size)
        let root = try node.add(bytes, chunkSize: 16)
        #expect(root.codec == Multicodec.dagCBOR)
        let top = try FileDAG.Node(cid: root, bytes: try require(try node.blockstore.get(root)))
        #expect(top.size == UInt64(size))
        #expect(try await node.read(root) == bytes)
        let leafDepths = Set(try depths(root, node.blockstore))
        #expect(leafDepths.count == 1, "leaves at depths \(leafDepths)")
        // The same bytes always give the same root.
        #expect(try node.add(bytes, chunkSize: 16) == root)
    }

    @Test func strangerNodesAreNotFiles() throws {
        let other = try Block(value: .map(["type": .string("file"), "size": .integer(3), "links": .list([])]))
        #expect(throws: ExchangeError.self) { try FileDAG.Node(cid: other.cid, bytes: other.bytes) }
        let raw = try Block(bytes: [1, 2, 3], codec: Multicodec.raw)
        #expect(throws: ExchangeError.self) { try FileDAG.Node(cid: raw.cid, bytes: raw.bytes) }
        #expect(FileDAG.links(of: raw.cid, bytes: raw.bytes).isEmpty)
        let linking = try Block(value: .map(["a": .link(raw.cid), "b": .list([.link(other.cid)])]))
        #expect(FileDAG.links(of: linking.cid, bytes: linking.bytes) == [raw.cid, other.cid])
    }
}
