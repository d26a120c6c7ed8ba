import DagCBOR
import Foundation
import Multiformats
import Store
import Testing
import ThreadsTestKit

@testable import Exchange

@Suite("File DAGs", .timeLimit(.minutes(5)))
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

    @Test func filesThatRepeatTheirChunksRoundTrip() async throws {
        let node = try await TestNode()
        defer { Task { await node.shutdown() } }
        let bytes = [UInt8](repeating: 0, count: 40_000)
        let root = try node.add(bytes, chunkSize: 16)
        #expect(try await node.read(root) == bytes)
    }

    /// Writes the file under `root` from `blockstore`; returns the error and what reached the file.
    func writeFailure(_ root: CID, from blockstore: Blockstore) async throws -> (ExchangeError?, Int) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("write-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try require(FileHandle(forWritingAtPath: path))
        var failure: ExchangeError?
        do {
            try await FileDAG.write(root, to: handle) { cid in try require(try blockstore.get(cid)) }
        } catch let error as ExchangeError {
            failure = error
        }
        try handle.close()
        return (failure, try Data(contentsOf: URL(fileURLWithPath: path)).count)
    }

    @Test func childrenLargerThanTheirLinksDeclareStopTheWrite() async throws {
        let node = try await TestNode()
        defer { Task { await node.shutdown() } }
        var rng = SeededGenerator(seed: 11)
        let chunk = try Block(bytes: rng.bytes(100), codec: Multicodec.raw)
        // A chunk of 100 bytes linked eight times as 1 byte: a root of 8 bytes that would write 800.
        let lyingLinks = FileDAG.Node(links: Array(repeating: .init(cid: chunk.cid, size: 1), count: 8))
        // A node that is honest about its 800 bytes, linked eight times as 1 byte.
        let honest = FileDAG.Node(links: Array(repeating: .init(cid: chunk.cid, size: 100), count: 8))
        let honestBlock = try Block(value: honest.ipld)
        let lyingNode = FileDAG.Node(links: Array(repeating: .init(cid: honestBlock.cid, size: 1), count: 8))
        let roots = [try Block(value: lyingLinks.ipld), try Block(value: lyingNode.ipld)]
        try node.blockstore.put([chunk, honestBlock] + roots)
        let expected: [ExchangeError] = [
            .sizeMismatch(chunk.cid, declared: 1, actual: 100),
            .sizeMismatch(honestBlock.cid, declared: 1, actual: 800),
        ]
        for (root, error) in zip(roots, expected) {
            let (failure, written) = try await writeFailure(root.cid, from: node.blockstore)
            #expect(failure == error)
            #expect(written == 0)
        }
    }

    @Test func linkSizesThatCouldHideWorkAreRefused() throws {
        let chunk = try Block(bytes: [1, 2, 3, 4], codec: Multicodec.raw)
        let empty = try Block(bytes: [], codec: Multicodec.raw)
        func node(size: UInt64, _ links: [(CID, UInt64)]) throws -> Block {
            try Block(
                value: .map([
                    "type": .string("file"), "size": .integer(IPLDInteger(size)),
                    "links": .list(links.map { .map(["cid": .link($0.0), "size": .integer(IPLDInteger($0.1))]) }),
                ])
            )
        }
        // Sizes that add up to the node's only by wrapping around.
        let wrapping = try node(size: 3, [(chunk.cid, 4), (chunk.cid, UInt64.max)])
        #expect(throws: ExchangeError.self) { try FileDAG.Node(cid: wrapping.cid, bytes: wrapping.bytes) }
        // Empty children beside real ones: any number of them costs nothing in size.
        let padded = try node(size: 4, [(chunk.cid, 4)] + Array(repeating: (empty.cid, 0), count: 1023))
        #expect(throws: ExchangeError.self) { try FileDAG.Node(cid: padded.cid, bytes: padded.bytes) }
        // The empty file's one empty chunk is fine.
        let emptyFile = try node(size: 0, [(empty.cid, 0)])
        #expect(try FileDAG.Node(cid: emptyFile.cid, bytes: emptyFile.bytes).size == 0)
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
