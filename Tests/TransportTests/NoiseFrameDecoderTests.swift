import NIOCore
import NIOTestUtils
import Testing

@testable import Transport

/// The 2-byte length decoder fed whole, byte by byte and in random splits (NIO's verifier).
@Suite(.timeLimit(.minutes(5))) struct NoiseFrameDecoderTests {
    static func frame(_ payload: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt16(payload.count))
        buffer.writeBytes(payload)
        return buffer
    }

    @Test func decodesInAnySplit() throws {
        let payloads: [[UInt8]] = [
            [], [1], [1, 2, 3], [UInt8](repeating: 7, count: 300), [UInt8](repeating: 9, count: 1000),
        ]
        var pairs: [(ByteBuffer, [ByteBuffer])] = payloads.map { (Self.frame($0), [ByteBuffer(bytes: $0)]) }
        // Several frames arriving together decode to several messages.
        var joined = Self.frame([4, 5])
        var second = Self.frame([6])
        joined.writeBuffer(&second)
        pairs.append((joined, [ByteBuffer(bytes: [4, 5]), ByteBuffer(bytes: [6])]))
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { NoiseFrameDecoder() }
    }
}
