import Foundation
import Logging
import Multiformats
import NIOCore
import NIOPosix
import Sodium
import Testing
import ThreadsTestKit
import Transport

/// Collects log records so a test can check that a dropped connection says why.
final class RecordingLogHandler: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var records: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let text =
            "\(event.message) "
            + (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        lock.withLock { records.append(text) }
    }

    var lines: [String] { lock.withLock { records } }
}

/// A peer that breaks the multiplexing rules loses its connection, with the reason logged, while
/// the node keeps serving a well-behaved peer.
@Suite(.timeLimit(.minutes(5))) struct HostileMuxTests {
    /// A node whose mux logs to `log`, and a well-behaved peer connected to it first.
    struct Setting {
        let log = RecordingLogHandler()
        let server: ConnectionManager
        let address: Multiaddr
        let good: ConnectionManager
        let goodConnection: MuxConnection
        /// Event loops of their own: the floods here stay off the loops other tests share, and
        /// those tests' traffic does not hold these up.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

        init() async throws {
            var options = MuxConnection.Options()
            options.logger = Logger(label: "test.mux") { [log] _ in log }
            server = ConnectionManager(
                transport: SecureTransport(identity: Ed25519.PrivateKey(), group: group),
                protocols: ConnectionManagerTests.protocols(),
                options: options
            )
            let bound = try await server.listen(on: Multiaddr("/ip4/127.0.0.1/tcp/0"))
            address = try bound.encapsulate(Multiaddr("/p2p/\(server.localPeer)"))
            good = ConnectionManager(
                transport: SecureTransport(identity: Ed25519.PrivateKey(), group: group),
                protocols: MuxProtocols()
            )
            goodConnection = try await good.connect(address)
            #expect(try await goodConnection.request("/threads/echo/1", [1]) == [1])
        }

        func shutdown() async {
            await good.shutdown()
            await server.shutdown()
            try? await group.shutdownGracefully()
        }
    }

    @Test func oversizedAndMalformedFramesCloseOnlyThatConnection() async throws {
        let setting = try await Setting()
        let (log, address, goodConnection) = (setting.log, setting.address, setting.goodConnection)

        // Hostile peers: a secure channel that then sends bytes the multiplexer must refuse.
        let hostileInputs: [[UInt8]] = [
            Varint.encode(UInt64(MuxFrame.maxBodyLength + 1)) + [0],  // declares a frame over 4 MiB
            [2, 99, 0],  // unknown frame kind
            [3, 0, 1, 0],  // request with an empty protocol name
        ]
        for bytes in hostileInputs {
            let channel = try await SecureTransport(identity: Ed25519.PrivateKey(), group: setting.group).dial(address)
            let closedByServer = try await channel.channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(bytes: bytes))
                var iterator = inbound.makeAsyncIterator()
                // The server sends nothing back and closes: the stream ends (or is reset).
                let next = try? await iterator.next()
                return next == nil
            }
            #expect(closedByServer)
        }
        // The good peer is still served, and every drop was logged with its reason.
        #expect(try await goodConnection.request("/threads/echo/1", [2]) == [2])
        let closing = log.lines.filter { $0.hasPrefix("closing connection") }
        #expect(closing.count == hostileInputs.count, "\(log.lines)")
        #expect(closing.allSatisfy { $0.contains("reason=") })
        #expect(closing.contains { $0.contains("exceeds the limit") })
        #expect(closing.contains { $0.contains("unknown frame kind") })
        await setting.shutdown()
    }
    /// Every ping gets a pong, sent without waiting. A peer that sends pings and never reads the
    /// pongs would leave them waiting behind the full write window without end: past the bound
    /// the connection closes, with the reason logged, and the node serves its other peers.
    @Test(.timeLimit(.minutes(2))) func aPeerThatPingsWithoutReadingIsDisconnected() async throws {
        let setting = try await Setting()
        let log = setting.log

        // Each write: 2,000 pings (length 2, kind 7, id 0) and 200 requests for an unknown protocol
        // with a 250-byte name, whose error replies (each naming the protocol) fill the window and
        // the socket buffers sooner than pongs alone would. Nothing is ever read.
        let name = Array("/x/".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 247)
        let request: [UInt8] =
            Varint.encode(UInt64(1 + 1 + 2 + name.count)) + [0, 1] + Varint.encode(UInt64(name.count)) + name
        let pings = ByteBuffer(
            bytes: (0..<2000).flatMap { _ in [2, 7, 0] as [UInt8] } + (0..<200).flatMap { _ in request }
        )
        let channel = try await SecureTransport(identity: Ed25519.PrivateKey(), group: setting.group).dial(
            setting.address
        )
        // A small receive buffer, so the replies back up after a few kilobytes rather than after
        // the megabytes the kernel would otherwise hold: the flood stays small for the tests
        // running alongside.
        try await channel.channel.channel.setOption(.socketOption(.so_rcvbuf), value: 4096).get()
        let closed = try await channel.channel.executeThenClose { _, outbound in
            for _ in 0..<500 {
                if log.lines.contains(where: { $0.hasPrefix("closing connection") }) { return true }
                do { try await outbound.write(pings) } catch { break }
            }
            // Generous: with the whole suite running, the node's event loops may be busy for a while.
            return await TestKit.eventually(timeout: .seconds(90)) {
                log.lines.contains { $0.hasPrefix("closing connection") }
            }
        }
        #expect(closed)
        #expect(log.lines.contains { $0.contains("the peer sends without reading") }, "\(log.lines)")
        #expect(try await setting.goodConnection.request("/threads/echo/1", [3]) == [3])
        await setting.shutdown()
    }
}
