import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Testing
import ThreadsTestKit
import Transport

@testable import Exchange

@Suite("What a hostile peer can make the exchange keep or do", .serialized, .timeLimit(.minutes(5)))
struct HostilePeerTests {
    static func randomCID(_ rng: inout SeededGenerator) -> CID {
        CID.v1(codec: Multicodec.raw, multihash: try! Multihash.hash(rng.bytes(8), using: .sha2_256))
    }

    @Test(arguments: [false, true])
    func everyReadLoopWaitingForRoomIsWoken(byClosing: Bool) async throws {
        // Room for less than one message: every push waits, as two connections of one peer
        // would on a full inbox.
        let inbox = Inbox(limit: 1)
        let resumed = Counter()
        for n in 0..<2 {
            Task {
                await inbox.push([UInt8(n)])
                await resumed.increment()
            }
        }
        try await TestKit.waitUntil(timeout: .seconds(10)) { await inbox.count == 2 }
        if byClosing {
            await inbox.close()
        } else {
            #expect(await inbox.take()?.count == 2)
        }
        #expect(await TestKit.eventually(timeout: .seconds(10)) { await resumed.value == 2 })
    }

    @Test func messagesQueuedByAPeerThatLeftAreDropped() async throws {
        let inbox = Inbox(limit: 1 << 20)
        await inbox.push([1])
        await inbox.push([2])
        await inbox.close()
        #expect(await inbox.take() == nil)
        await inbox.push([3])
        #expect(await inbox.take() == nil)
    }

    @Test func aPeerThatLeftGetsNoLedgerBack() async throws {
        let node = try await TestNode()
        let peer = Ed25519.PrivateKey().publicKey.peerID
        var rng = SeededGenerator(seed: 9)
        let want = ExchangeMessage(wants: [.init(cid: Self.randomCID(&rng), kind: .wantBlock)]).encoded()
        await node.exchange.receiveRaw(want, from: peer)
        try await TestKit.waitUntil(timeout: .seconds(10)) {
            (await node.exchange.ledger(of: peer)?.queuedWants ?? 0) == 1
        }
        let inbox = await node.exchange.inbox(for: peer)
        await node.exchange.peerLeft(peer)
        #expect(await node.exchange.ledger(of: peer) == nil)
        // The processing task may still hold a batch it took before the peer left.
        await node.exchange.process(want, from: peer, via: inbox)
        #expect(await node.exchange.ledger(of: peer) == nil)
        #expect(await node.exchange.ledgerSummaries.isEmpty)
        await node.shutdown()
    }

    @Test func unsolicitedDontHavesAreNotKept() async throws {
        let provider = try await TestNode()
        let hostile = try await TestNode()
        let fetcher = try await TestNode(routing: SlowRouting())
        _ = try await fetcher.manager.connect(provider.address)
        var rng = SeededGenerator(seed: 10)
        let missing = Self.randomCID(&rng)
        let task = Task { try await fetcher.exchange.fetch(missing) }
        // The provider lacks the block and says so; the session keeps that (it was asked).
        try await TestKit.waitUntil(timeout: .seconds(10)) { await fetcher.exchange.lackingCount == 1 }
        // So does the hostile peer once it connects and is asked...
        let connection = try await hostile.manager.connect(fetcher.address)
        try await TestKit.waitUntil(timeout: .seconds(10)) { await fetcher.exchange.lackingCount == 2 }
        // ...but dont-haves for blocks no session wants are not kept.
        let flood = ExchangeMessage(
            presences: (0..<ExchangeMessage.maxEntries).map { _ in (Self.randomCID(&rng), .dontHave) }
        ).encoded()
        try await connection.message(Exchange.protocolName, flood)
        try await TestKit.waitUntil(timeout: .seconds(10)) {
            (await fetcher.exchange.ledger(of: hostile.peer)?.bytesReceived ?? 0) >= UInt64(flood.count)
        }
        #expect(await fetcher.exchange.lackingCount == 2)
        // A peer that leaves takes its answers with it.
        await hostile.shutdown()
        #expect(await TestKit.eventually(timeout: .seconds(10)) { await fetcher.exchange.lackingCount == 1 })
        task.cancel()
        await #expect(throws: ExchangeError.cancelled) { try await task.value }
        await provider.shutdown()
        await fetcher.shutdown()
    }

    @Test func aDAGThatLinksOneChildManyTimesIsFetchedOnce() async throws {
        let provider = try await TestNode()
        // One block requested at a time, so a link's other copies are still waiting on the stack
        // when its block arrives (with a wider window, they are skipped while it is in flight).
        var options = TestNode.testOptions
        options.sessionWindow = 1
        let fetcher = try await TestNode(options: options)
        // Six levels, each node linking the one below eight times: 7 blocks, 8^6 paths.
        let leaf = try Block(bytes: Array("leaf".utf8), codec: Multicodec.raw)
        var blocks = [leaf]
        var link = FileDAG.Node.Link(cid: leaf.cid, size: UInt64(leaf.bytes.count))
        for _ in 0..<6 {
            let node = FileDAG.Node(links: Array(repeating: link, count: 8))
            let block = try Block(value: node.ipld)
            blocks.append(block)
            link = FileDAG.Node.Link(cid: block.cid, size: node.size)
        }
        try provider.blockstore.put(blocks)
        _ = try await fetcher.manager.connect(provider.address)
        let result = try await fetcher.exchange.fetch(link.cid)
        #expect(result.blocks == 7)
        #expect(result.fetchedBlocks == 7)
        #expect(result.totalBytes == 4 << 18)
        #expect(await fetcher.exchange.duplicateBlocks == 0)
        #expect(await fetcher.exchange.unsolicitedBlocks == 0)
        #expect(await provider.exchange.ledger(of: fetcher.peer)?.blocksSent == 7)
        #expect(await fetcher.exchange.ledger(of: provider.peer)?.blocksReceived == 7)
        // Fetched again, every block is found locally, once.
        #expect(try await fetcher.exchange.fetch(link.cid).blocks == 7)
        await provider.shutdown()
        await fetcher.shutdown()
    }
}

actor Counter {
    private(set) var value = 0

    func increment() { value += 1 }
}
