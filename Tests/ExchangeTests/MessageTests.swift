import Multiformats
import Testing
import ThreadsTestKit

@testable import Exchange

@Suite("Exchange messages and ledgers", .timeLimit(.minutes(5)))
struct MessageTests {
    static func cid(_ n: Int) -> CID {
        CID.v1(codec: Multicodec.raw, multihash: try! Multihash.hash(Array("block \(n)".utf8), using: .sha2_256))
    }

    @Test func messagesRoundTrip() throws {
        let message = ExchangeMessage(
            wants: [
                .init(cid: Self.cid(1), kind: .wantHave, priority: 7, sendDontHave: true),
                .init(cid: Self.cid(2), kind: .wantBlock, priority: UInt32.max),
                .init(cid: Self.cid(3), kind: .cancel),
            ],
            presences: [(Self.cid(4), .have), (Self.cid(5), .dontHave)],
            blocks: [(Self.cid(6), Array("block 6".utf8)), (Self.cid(7), [])]
        )
        let decoded = try ExchangeMessage(decoding: message.encoded())
        #expect(decoded == message)
        #expect(try ExchangeMessage(decoding: ExchangeMessage().encoded()).isEmpty)
    }

    @Test func badMessagesGiveTypedErrors() throws {
        let good = ExchangeMessage(
            wants: [.init(cid: Self.cid(1), kind: .wantBlock)],
            blocks: [(Self.cid(2), [UInt8](repeating: 9, count: 100))]
        ).encoded()
        for cut in 0..<good.count {
            #expect(throws: ExchangeError.self) { try ExchangeMessage(decoding: Array(good.prefix(cut))) }
        }
        #expect(throws: ExchangeError.malformed("1 trailing bytes")) { try ExchangeMessage(decoding: good + [0]) }
        #expect(throws: ExchangeError.malformed("unknown version 2")) { try ExchangeMessage(decoding: [2, 0, 0, 0]) }
        // A declared block length over 2 MiB is refused before anything is read.
        var huge: [UInt8] = [1, 0, 0, 1]
        Varint.encode(UInt64(Self.cid(1).bytes.count), into: &huge)
        huge += Self.cid(1).bytes
        Varint.encode(UInt64(3 << 20), into: &huge)
        #expect(throws: ExchangeError.malformed("block of 3145728 bytes exceeds 2 MiB")) {
            try ExchangeMessage(decoding: huge)
        }
        #expect(throws: ExchangeError.self) { try ExchangeMessage(decoding: [1, 0xff, 0xff, 0xff, 0x7f]) }
        var rng = SeededGenerator(seed: 3)
        for length in [1, 2, 5, 40, 400] {
            for _ in 0..<50 { _ = try? ExchangeMessage(decoding: [1] + rng.bytes(length)) }
        }
    }

    @Test func mangledMessagesFailCleanlyOrRoundTrip() throws {
        var rng = SeededGenerator(seed: 52)
        let samples = [
            ExchangeMessage(
                wants: [
                    .init(cid: Self.cid(1), kind: .wantHave, priority: 7, sendDontHave: true),
                    .init(cid: Self.cid(2), kind: .wantBlock, priority: 1 << 20),
                    .init(cid: Self.cid(3), kind: .cancel),
                ],
                presences: [(Self.cid(4), .have), (Self.cid(5), .dontHave)]
            ),
            ExchangeMessage(blocks: [(Self.cid(6), rng.bytes(300)), (Self.cid(7), []), (Self.cid(8), rng.bytes(5))]),
        ].map { $0.encoded() }
        var decoded = 0
        for round in 0..<6000 {
            let message: ExchangeMessage
            do {
                message = try ExchangeMessage(decoding: rng.mangled(samples[round % samples.count]))
            } catch {
                // typed throws: a ExchangeError is the only other outcome
                continue
            }
            decoded += 1
            #expect(try ExchangeMessage(decoding: message.encoded()) == message)
        }
        #expect(decoded > 0)
    }

    @Test func ledgersAreCappedAndCancelsRemoveWants() {
        var ledger = Ledger()
        for n in 0..<10 { #expect(ledger.apply(.init(cid: Self.cid(n), kind: .wantBlock), cap: 8) == (n < 8)) }
        #expect(ledger.wantCount == 8)
        #expect(ledger.droppedWants == 2)
        _ = ledger.apply(.init(cid: Self.cid(0), kind: .cancel), cap: 8)
        #expect(ledger.wantCount == 7)
        // A repeated want updates in place and keeps its place in line.
        _ = ledger.apply(.init(cid: Self.cid(1), kind: .wantBlock, priority: 5), cap: 8)
        #expect(ledger.wantCount == 7)
        let order = ledger.readyInOrder().map(\.want.cid)
        #expect(order.first == Self.cid(1))
        #expect(Array(order.dropFirst()) == (2..<8).map(Self.cid))
    }
}
