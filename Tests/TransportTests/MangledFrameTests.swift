import Multiformats
import NIOCore
import Sodium
import Testing
import ThreadsTestKit

@testable import Transport

/// What an authenticated but hostile peer can put inside the secure channel (mux frames) or in
/// its handshake (the identity payload), mangled in every way the test kit knows: each gives a
/// typed error or a value that encodes back to the very bytes it came from, never a crash.
@Suite(.timeLimit(.minutes(5))) struct MangledFrameTests {
    static func encoded(_ frame: MuxFrame) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try frame.encode(into: &buffer)
        return Array(buffer.readableBytesView)
    }

    @Test func muxFramesParseBackToTheirOwnBytesOrFail() throws {
        var rng = SeededGenerator(seed: 41)
        let frames = [
            MuxFrame(kind: .request, id: 7, protocolName: "/threads/log/1", payload: rng.bytes(40)),
            MuxFrame(kind: .message, id: 0, protocolName: "/threads/exchange/1", payload: rng.bytes(300)),
            MuxFrame(kind: .response, id: 1 << 40, payload: rng.bytes(12)),
            MuxFrame(kind: .error, id: 3, payload: Array("no such protocol".utf8)),
            MuxFrame(kind: .ping, id: 99),
        ]
        var parsed = 0
        for round in 0..<6000 {
            let bytes = rng.mangled(try Self.encoded(frames[round % frames.count]))
            var buffer = ByteBuffer(bytes: bytes)
            let frame: MuxFrame?
            do {
                frame = try MuxFrame.decode(from: &buffer)
            } catch {
                continue  // a typed TransportError is the other allowed outcome
            }
            guard let frame else {
                // Not a whole frame yet: the buffer must be left as it was.
                #expect(buffer.readableBytes == bytes.count)
                continue
            }
            parsed += 1
            let consumed = bytes.count - buffer.readableBytes
            #expect(try Self.encoded(frame) == Array(bytes.prefix(consumed)), "round \(round)")
        }
        // The mangling leaves some frames whole (a flipped payload byte): the check above ran.
        #expect(parsed > 500)
    }

    @Test func handshakePayloadsFailWithTypedErrors() throws {
        var rng = SeededGenerator(seed: 42)
        let identity = Ed25519.PrivateKey()
        let staticKey = X25519.PrivateKey()
        let good = NoiseHandshakePayload(identity: identity, staticKey: staticKey.publicKey).encoded
        var proven = 0
        for _ in 0..<4000 {
            let bytes = rng.mangled(good)
            guard let payload = try? NoiseHandshakePayload(decoding: bytes) else { continue }
            do {
                let key = try payload.verify(remoteStatic: staticKey.publicKey.rawRepresentation)
                // Only the true identity can pass, whatever bytes around it were changed.
                #expect(key == identity.publicKey)
                proven += 1
            } catch {
                // typed throws: a TransportError is the only other outcome
            }
        }
        #expect(proven < 4000)
        // Another static key than the one signed is never accepted.
        let payload = try NoiseHandshakePayload(decoding: good)
        #expect(throws: TransportError.self) {
            try payload.verify(remoteStatic: X25519.PrivateKey().publicKey.rawRepresentation)
        }
    }
}
