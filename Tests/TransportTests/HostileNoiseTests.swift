import Foundation
import Logging
import Multiformats
import NIOCore
import NIOPosix
import Sodium
import Testing

@testable import Transport

/// A peer that completes the handshake and then sends a tampered or replayed transport message
/// loses its connection, with the reason logged, while the node keeps serving others.
@Suite(.timeLimit(.minutes(5))) struct HostileNoiseTests {
    enum Attack: CaseIterable {
        case flippedBit
        case replay
    }

    /// A raw Noise client that controls every byte it sends: handshake by hand, one good message
    /// (which must be echoed), then the attack. Returns whether the server then closed the connection.
    static func attack(_ attack: Attack, port: Int, peer: PeerID) async throws -> Bool {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(NoiseFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(NoiseFrameEncoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        var handshake = NoiseHandshake(role: .initiator, identity: Ed25519.PrivateKey(), expectedPeer: peer)
        return try await channel.executeThenClose { inbound, outbound in
            var iterator = inbound.makeAsyncIterator()
            try await outbound.write(ByteBuffer(bytes: handshake.writeMessage()))
            guard let second = try await iterator.next() else { return false }
            try handshake.readMessage(Array(buffer: second))
            try await outbound.write(ByteBuffer(bytes: handshake.writeMessage()))
            var session = try handshake.session()

            let good = try session.encrypt(Array("ping".utf8))
            try await outbound.write(ByteBuffer(bytes: good))
            guard let echo = try await iterator.next() else { return false }
            guard try session.decrypt(Array(buffer: echo)) == Array("ping".utf8) else { return false }

            switch attack {
            case .flippedBit:
                var bad = try session.encrypt(Array("pong".utf8))
                bad[1] ^= 0x04
                try await outbound.write(ByteBuffer(bytes: bad))
            case .replay:
                try await outbound.write(ByteBuffer(bytes: good))
            }
            let next = try? await iterator.next()
            return next == nil
        }
    }

    @Test func tamperedAndReplayedMessagesCloseOnlyThatConnection() async throws {
        let log = RecordingLogHandler()
        var transport = SecureTransport(identity: Ed25519.PrivateKey())
        transport.logger = Logger(label: "test.noise") { _ in log }
        // Handshakes are not under test here: when the whole suite saturates the shared event
        // loops, one took longer than the default 10 s and the server rightly dropped it.
        transport.handshakeTimeout = .seconds(120)
        let listener = try await transport.listen(on: Multiaddr("/ip4/127.0.0.1/tcp/0"))
        let serverTask = Task {
            try await listener.run { connection in
                try? await connection.channel.executeThenClose { inbound, outbound in
                    for try await chunk in inbound { try await outbound.write(chunk) }
                }
            }
        }
        defer { serverTask.cancel() }
        let address = try #require(listener.localAddress)
        let portText = try #require(address.value(for: .tcp))
        let port = try #require(Int(portText))
        let peer = transport.identity.publicKey.peerID

        for attack in Attack.allCases {
            #expect(try await Self.attack(attack, port: port, peer: peer), "\(attack)")
        }
        // Every dropped connection says why.
        let closing = log.lines.filter { $0.hasPrefix("closing connection") && $0.contains("phase=secure channel") }
        #expect(closing.count == Attack.allCases.count, "\(log.lines)")
        #expect(closing.allSatisfy { $0.contains("authentication failed") })

        // And the node still serves a well-behaved peer.
        let good = try await SecureTransport(identity: Ed25519.PrivateKey()).dial(
            address.encapsulate(Multiaddr("/p2p/\(peer)"))
        )
        let reply = try await good.channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "fine"))
            var iterator = inbound.makeAsyncIterator()
            return try await iterator.next().map { String(buffer: $0) }
        }
        #expect(reply == "fine")
        await listener.close()
    }
}

/// Prefixes each outgoing Noise message with its 2-byte big-endian length: the raw client's framing
/// (the node's own handler frames as it seals).
struct NoiseFrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = ByteBuffer

    func encode(data: ByteBuffer, out: inout ByteBuffer) throws {
        guard data.readableBytes <= NoiseFrame.maxLength else {
            throw TransportError.messageTooLarge(size: data.readableBytes, limit: NoiseFrame.maxLength)
        }
        out.writeInteger(UInt16(data.readableBytes))
        out.writeImmutableBuffer(data)
    }
}
