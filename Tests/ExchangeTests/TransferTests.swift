import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Testing
import ThreadsTestKit
import Transport

@testable import Exchange

@Suite("Block exchange on loopback", .serialized, .timeLimit(.minutes(5)))
struct TransferTests {
    func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        return rng.bytes(count)
    }

    @Test func twoNodes() async throws {
        let provider = try await TestNode()
        let fetcher = try await TestNode()
        let bytes = randomBytes(3 << 20, seed: 1)
        let root = try provider.add(bytes, chunkSize: 64 << 10)
        _ = try await fetcher.manager.connect(provider.address)
        let result = try await fetcher.exchange.fetch(root)
        #expect(result.bytes == UInt64(bytes.count))
        #expect(result.totalBytes == UInt64(bytes.count))
        #expect(result.fetchedBlocks == result.blocks)
        #expect(try await fetcher.read(root) == bytes)
        #expect(await fetcher.exchange.duplicateBlocks == 0)
        let ledger = try require(await provider.exchange.ledger(of: fetcher.peer))
        #expect(ledger.blocksSent == result.blocks)
        #expect(ledger.queuedWants == 0)
        // A second fetch finds everything locally.
        let again = try await fetcher.exchange.fetch(root)
        #expect(again.fetchedBlocks == 0)
        await provider.shutdown()
        await fetcher.shutdown()
    }

    @Test func fourNodesShareTheLoadWithoutDuplicates() async throws {
        let providers = [try await TestNode(), try await TestNode(), try await TestNode()]
        let fetcher = try await TestNode()
        let bytes = randomBytes(4 << 20, seed: 2)
        var roots: Set<CID> = []
        for provider in providers { roots.insert(try provider.add(bytes, chunkSize: 32 << 10)) }
        #expect(roots.count == 1)
        for provider in providers { _ = try await fetcher.manager.connect(provider.address) }
        let result = try await fetcher.exchange.fetch(try require(roots.first))
        #expect(try await fetcher.read(try require(roots.first)) == bytes)
        let duplicates = await fetcher.exchange.duplicateBlocks
        #expect(Double(duplicates) <= Double(result.blocks) * 0.01, "\(duplicates) duplicates of \(result.blocks)")
        var serving = 0
        for provider in providers where (await provider.exchange.ledger(of: fetcher.peer)?.blocksSent ?? 0) > 0 {
            serving += 1
        }
        #expect(serving >= 2, "only \(serving) provider(s) sent blocks")
        for node in providers + [fetcher] { await node.shutdown() }
    }

    @Test func aCorruptPeerIsDetectedAndAnotherProviderUsed() async throws {
        let good = try await TestNode()
        let bad = try await TestNode()
        // Connected to the bad node only; the good one is found as a provider once the bad one
        // is caught.
        let fetcher = try await TestNode(routing: StaticRouting(providers: [(good.peer, [good.address])]))
        let bytes = randomBytes(1 << 20, seed: 3)
        let root = try good.add(bytes, chunkSize: 64 << 10)
        // The bad node holds every block of the DAG, but each with its bytes flipped.
        for cid in try good.blockstore.allCIDs() {
            var data = try require(try good.blockstore.get(cid))
            data[data.count / 2] ^= 0xff
            try bad.blockstore.put(Block(unchecked: cid, bytes: data))
        }
        _ = try await fetcher.manager.connect(bad.address)
        _ = try await fetcher.exchange.fetch(root)
        #expect(try await fetcher.read(root) == bytes)
        #expect((await fetcher.exchange.ledger(of: bad.peer)?.corruptBlocks ?? 0) >= 1)
        // Nothing corrupt was stored.
        for cid in try fetcher.blockstore.allCIDs() {
            #expect(throws: Never.self) { try Block(cid: cid, bytes: try require(try fetcher.blockstore.get(cid))) }
        }
        for node in [good, bad, fetcher] { await node.shutdown() }
    }

    @Test func cancelsClearTheProvidersWantList() async throws {
        let provider = try await TestNode()
        let fetcher = try await TestNode()
        _ = try await fetcher.manager.connect(provider.address)
        let missing = (0..<5).map { n in
            CID.v1(codec: Multicodec.raw, multihash: try! Multihash.hash(Array("missing \(n)".utf8), using: .sha2_256))
        }
        // Want-blocks without dont-have wait at the provider for blocks it lacks...
        await fetcher.exchange.queue(missing.map { .init(cid: $0, kind: .wantBlock) }, to: provider.peer)
        try await TestKit.waitUntil(timeout: .seconds(10)) {
            (await provider.exchange.ledger(of: fetcher.peer)?.queuedWants ?? 0) == 5
        }
        // ...until cancelled.
        await fetcher.exchange.queue(missing.prefix(3).map { .init(cid: $0, kind: .cancel) }, to: provider.peer)
        try await TestKit.waitUntil(timeout: .seconds(10)) {
            (await provider.exchange.ledger(of: fetcher.peer)?.queuedWants ?? 0) == 2
        }
        // A parked want is answered as soon as the block arrives.
        let late = try Block(bytes: Array("missing 4".utf8), codec: Multicodec.raw)
        #expect(late.cid == missing[4])
        try provider.blockstore.put(late)
        await provider.exchange.blocksAdded([late.cid])
        try await TestKit.waitUntil(timeout: .seconds(10)) {
            (await provider.exchange.ledger(of: fetcher.peer)?.blocksSent ?? 0) == 1
        }

        await provider.shutdown()
        await fetcher.shutdown()
    }

    @Test func aCancelledFetchEndsAtOnceAndForgetsItsWants() async throws {
        let provider = try await TestNode()
        let fetcher = try await TestNode(routing: SlowRouting())
        _ = try await fetcher.manager.connect(provider.address)
        let missing = CID.v1(codec: Multicodec.raw, multihash: try Multihash.hash([9, 9], using: .sha2_256))
        let task = Task { try await fetcher.exchange.fetch(missing) }
        // The provider says it lacks the block; the session waits on the (slow) provider search.
        try await TestKit.waitUntil(timeout: .seconds(10)) {
            (await provider.exchange.ledger(of: fetcher.peer)?.bytesSent ?? 0) > 0
        }
        #expect(await fetcher.exchange.isWanted(missing))
        task.cancel()
        await #expect(throws: ExchangeError.cancelled) { try await task.value }
        #expect(!(await fetcher.exchange.isWanted(missing)))
        await provider.shutdown()
        await fetcher.shutdown()
    }

    @Test func aProviderThatDisappearsMidTransferIsRoutedAround() async throws {
        let first = try await TestNode()
        let second = try await TestNode()
        let fetcher = try await TestNode()
        let bytes = randomBytes(6 << 20, seed: 4)
        let root = try first.add(bytes, chunkSize: 16 << 10)
        _ = try second.add(bytes, chunkSize: 16 << 10)
        _ = try await fetcher.manager.connect(first.address)
        _ = try await fetcher.manager.connect(second.address)
        let killed = KillSwitch()
        let result = try await fetcher.exchange.fetch(root) { progress in
            if progress.fetchedBlocks >= 20 && killed.trip() {
                Task { await first.manager.shutdown() }
            }
        }
        #expect(killed.tripped)
        #expect(result.bytes == UInt64(bytes.count))
        #expect(try await fetcher.read(root) == bytes)
        for node in [first, second, fetcher] { await node.shutdown() }
    }

    @Test func providersComeFromRoutingWhenNoPeerIsConnected() async throws {
        let provider = try await TestNode()
        let bytes = randomBytes(200_000, seed: 5)
        let root = try provider.add(bytes, chunkSize: 16 << 10)
        let fetcher = try await TestNode(routing: StaticRouting(providers: [(provider.peer, [provider.address])]))
        _ = try await fetcher.exchange.fetch(root)
        #expect(try await fetcher.read(root) == bytes)
        // Without routing and without peers, the fetch fails with a clear error instead of hanging.
        let lonely = try await TestNode()
        await #expect(throws: ExchangeError.notFound(root)) { try await lonely.exchange.fetch(root) }
        for node in [provider, fetcher, lonely] { await node.shutdown() }
    }

    /// A provider record can outlive the block (the provider deleted it). A fetch whose only
    /// providers say dont-have ends with `notFound` after a search or two, whether or not it was
    /// connected to them already; it used to search, ask and park again for good.
    @Test(.timeLimit(.minutes(2)), arguments: [false, true])
    func providersThatLackTheBlockEndTheFetch(connectedFirst: Bool) async throws {
        let stale = try await TestNode()
        let root = try stale.add(randomBytes(1000, seed: 9), chunkSize: 16 << 10)
        #expect(try stale.blockstore.delete(root))
        let routing = CountingRouting(providers: [(stale.peer, [stale.address])])
        let fetcher = try await TestNode(routing: routing)
        if connectedFirst { _ = try await fetcher.manager.connect(stale.address) }
        await #expect(throws: ExchangeError.notFound(root)) { try await fetcher.exchange.fetch(root) }
        #expect(routing.searches <= 3, "\(routing.searches) provider searches")
        for node in [stale, fetcher] { await node.shutdown() }
    }

    /// A connected peer that takes every want and never answers (overloaded, or hostile) would
    /// be asked again each timeout, for good: a fetch that gets no block for `stallLimit` fails
    /// with `stalled` instead.
    @Test(.timeLimit(.minutes(2))) func aFetchFromPeersThatNeverAnswerStalls() async throws {
        var silentProtocols = MuxProtocols()
        silentProtocols.handleOrderedMessages(Exchange.protocolName) { _ in }
        let silent = ConnectionManager(
            transport: SecureTransport(identity: Ed25519.PrivateKey()),
            protocols: silentProtocols
        )
        let bound = try await silent.listen(on: Multiaddr("/ip4/127.0.0.1/tcp/0"))
        var options = TestNode.testOptions
        options.minimumTimeout = .milliseconds(200)
        options.maximumTimeout = .milliseconds(400)
        options.stallLimit = .seconds(2)
        let fetcher = try await TestNode(options: options)
        _ = try await fetcher.manager.connect(bound.encapsulate(Multiaddr("/p2p/\(silent.localPeer)")))
        let root = try Block(bytes: Array("never sent".utf8), codec: Multicodec.raw).cid
        await #expect(throws: ExchangeError.stalled(root, after: .seconds(2))) {
            try await fetcher.exchange.fetch(root)
        }
        await fetcher.shutdown()
        await silent.shutdown()
    }

    @Test func aWantListFloodStaysBoundedAndOthersAreStillServed() async throws {
        var options = TestNode.testOptions
        options.maxWantsPerPeer = 1000
        let provider = try await TestNode(options: options)
        let hostile = try await TestNode()
        let honest = try await TestNode()
        let bytes = randomBytes(300_000, seed: 6)
        let root = try provider.add(bytes, chunkSize: 16 << 10)
        let connection = try await hostile.manager.connect(provider.address)
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<10 {
            let wants = (0..<ExchangeMessage.maxEntries).map { _ in
                ExchangeMessage.Want(
                    cid: CID.v1(codec: Multicodec.raw, multihash: try! Multihash.hash(rng.bytes(8), using: .sha2_256)),
                    kind: .wantBlock
                )
            }
            try await connection.message(Exchange.protocolName, ExchangeMessage(wants: wants).encoded())
        }
        try await TestKit.waitUntil(timeout: .seconds(10)) {
            (await provider.exchange.ledger(of: hostile.peer)?.droppedWants ?? 0) > 0
        }
        let ledger = try require(await provider.exchange.ledger(of: hostile.peer))
        #expect(ledger.queuedWants <= 1000)
        // Garbage on the protocol is dropped without harming the connection's other traffic.
        try await connection.message(Exchange.protocolName, [1, 2, 3, 4, 5])
        _ = try await honest.manager.connect(provider.address)
        _ = try await honest.exchange.fetch(root)
        #expect(try await honest.read(root) == bytes)
        for node in [provider, hostile, honest] { await node.shutdown() }
    }
}

/// Routing whose search takes longer than any test.
struct SlowRouting: ProviderRouting {
    func findProviders(_ cid: CID, wanted: Int) async -> [(peer: PeerID, addresses: [Multiaddr])] {
        try? await Task.sleep(for: .seconds(60))
        return []
    }
}

final class KillSwitch: Sendable {
    private let state = NSLock()
    nonisolated(unsafe) private var value = false

    /// True for the first caller.
    func trip() -> Bool {
        state.lock()
        defer { state.unlock() }
        if value { return false }
        value = true
        return true
    }

    var tripped: Bool {
        state.lock()
        defer { state.unlock() }
        return value
    }
}
