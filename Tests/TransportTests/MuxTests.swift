import Foundation
import Multiformats
import NIOCore
import Sodium
import Testing
import ThreadsTestKit
import Transport

/// Two nodes on loopback, multiplexing calls over one secure connection.
@Suite(.timeLimit(.minutes(5))) struct MuxTests {
    /// Flags set by handlers, read by tests.
    final class Flags: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [String: Int] = [:]
        func bump(_ key: String) { lock.withLock { values[key, default: 0] += 1 } }
        func get(_ key: String) -> Int { lock.withLock { values[key, default: 0] } }

        private var gateOpen = false
        private var gateWaiters: [CheckedContinuation<Void, Never>] = []

        /// Returns once `openGate()` has been called.
        func passGate() async {
            await withCheckedContinuation { continuation in
                let open = lock.withLock {
                    if !gateOpen { gateWaiters.append(continuation) }
                    return gateOpen
                }
                if open { continuation.resume() }
            }
        }

        func openGate() {
            let waiters = lock.withLock {
                gateOpen = true
                defer { gateWaiters = [] }
                return gateWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    static func protocols(_ flags: Flags) -> MuxProtocols {
        var p = MuxProtocols()
        p.handleRequests("/threads/echo/1") { .single(Array("echo:".utf8) + $0.payload) }
        p.handleRequests("/threads/fail/1") { _ in throw TransportError.malformedFrame("handler refused") }
        p.handleRequests("/threads/count/1") { request in
            let n = Int(request.payload.first ?? 0)
            return .stream(
                AsyncThrowingStream { continuation in
                    for i in 0..<n { continuation.yield([UInt8(i)]) }
                    continuation.finish()
                }
            )
        }
        p.handleRequests("/threads/slow/1") { _ in
            do {
                try await Task.sleep(for: .seconds(5))
            } catch {
                flags.bump("slow-cancelled")
                throw error
            }
            return .single([])
        }
        p.handleMessages("/threads/note/1") { _ in flags.bump("note") }
        // Handled in order, each only once the gate is open: until then the connection reads nothing.
        p.handleOrderedMessages("/threads/gate/1") { _ in
            await flags.passGate()
            flags.bump("gate")
        }
        return p
    }

    /// A server node serving the test protocols and a client connected to it.
    static func pair(
        options: MuxConnection.Options = MuxConnection.Options(),
        flags: Flags = Flags()
    ) async throws -> (client: MuxConnection, server: SecureListener, tasks: [Task<Void, any Error>]) {
        let serverTransport = SecureTransport(identity: Ed25519.PrivateKey())
        let listener = try await serverTransport.listen(on: Multiaddr("/ip4/127.0.0.1/tcp/0"))
        let protocols = Self.protocols(flags)
        let serverTask = Task {
            try await listener.run { channel in
                try? await MuxConnection(channel, protocols: protocols, options: options).run()
            }
        }
        let address = try #require(listener.localAddress)
        let channel = try await SecureTransport(identity: Ed25519.PrivateKey())
            .dial(address.encapsulate(Multiaddr("/p2p/\(serverTransport.identity.publicKey.peerID)")))
        let client = MuxConnection(channel, protocols: MuxProtocols(), options: options)
        let clientTask = Task { try await client.run() }
        return (client, listener, [serverTask, clientTask])
    }

    /// A receiver whose handler is busy stops reading; the sender's messages then wait instead of
    /// piling up in its memory, and every one is handled once the receiver goes on.
    @Test(.timeLimit(.minutes(2))) func aBusyReceiverSlowsTheSenderAndNothingIsLost() async throws {
        let flags = Flags()
        let (client, server, tasks) = try await Self.pair(flags: flags)
        let payload = [UInt8](repeating: 7, count: 256 << 10)
        let messages = 256  // 64 MiB
        let sent = BackpressureTests.Progress()
        let sender = Task {
            for _ in 0..<messages {
                try await client.message("/threads/gate/1", payload)
                sent.add(1)
            }
        }
        try await sent.untilStalled()
        let taken = sent.snapshot.accepted
        #expect(taken < messages / 2, "\(taken) messages of 256 KiB taken by a stalled peer")
        flags.openGate()
        try await sender.value
        #expect(await TestKit.eventually(timeout: .seconds(60)) { flags.get("gate") == messages })
        await client.close()
        await server.close()
        for task in tasks { task.cancel() }
    }

    @Test func requestsResponsesErrorsAndStreams() async throws {
        let flags = Flags()
        let (client, listener, tasks) = try await Self.pair(flags: flags)
        defer { tasks.forEach { $0.cancel() } }
        #expect(try await client.request("/threads/echo/1", [1, 2]) == Array("echo:".utf8) + [1, 2])
        await #expect(throws: TransportError.unknownProtocol("/threads/missing/1")) {
            _ = try await client.request("/threads/missing/1", [])
        }
        do {
            _ = try await client.request("/threads/fail/1", [])
            Issue.record("a failing handler answered")
        } catch let error as TransportError {
            guard case .remoteError(let reason) = error else { throw error }
            #expect(reason.contains("handler refused"))
        }
        var items: [[UInt8]] = []
        for try await item in await client.requestStream("/threads/count/1", [5]) { items.append(item) }
        #expect(items == [[0], [1], [2], [3], [4]])
        try await client.message("/threads/note/1", [9])
        for _ in 0..<100 where flags.get("note") == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(flags.get("note") == 1)
        await listener.close()
    }

    @Test func manyConcurrentRequestsWithABoundedServer() async throws {
        var options = MuxConnection.Options()
        options.maxConcurrentInbound = 4
        let (client, listener, tasks) = try await Self.pair(options: options)
        defer { tasks.forEach { $0.cancel() } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let payload = [UInt8(i % 256), UInt8(i / 256)]
                    let reply = try await client.request("/threads/echo/1", payload)
                    #expect(reply == Array("echo:".utf8) + payload)
                }
            }
            try await group.waitForAll()
        }
        await listener.close()
    }

    @Test func timeoutsCancelTheRemoteHandler() async throws {
        let flags = Flags()
        let (client, listener, tasks) = try await Self.pair(flags: flags)
        defer { tasks.forEach { $0.cancel() } }
        await #expect(throws: TransportError.timedOut(protocolName: "/threads/slow/1", after: .milliseconds(200))) {
            _ = try await client.request("/threads/slow/1", [], timeout: .milliseconds(200))
        }
        for _ in 0..<200 where flags.get("slow-cancelled") == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(flags.get("slow-cancelled") == 1)
        // The connection is still usable.
        #expect(try await client.request("/threads/echo/1", [7]) == Array("echo:".utf8) + [7])
        await listener.close()
    }

    @Test func closingFailsOutstandingCalls() async throws {
        let (client, listener, tasks) = try await Self.pair()
        defer { tasks.forEach { $0.cancel() } }
        let pending = Task { try await client.request("/threads/slow/1", []) }
        try await Task.sleep(for: .milliseconds(100))
        await client.close()
        await #expect(throws: TransportError.connectionClosed) { _ = try await pending.value }
        await #expect(throws: TransportError.connectionClosed) { _ = try await client.request("/threads/echo/1", []) }
        await listener.close()
    }

    /// `close()` wakes a read loop waiting for a free handler slot (the only one held by a
    /// handler that does not finish on its own): the handler is cancelled and `run()` returns.
    /// Before, the read loop stayed parked, so `run()` never returned.
    @Test(.timeLimit(.minutes(2))) func closeEndsARunWaitingForAHandlerSlot() async throws {
        let flags = Flags()
        var options = MuxConnection.Options()
        options.maxConcurrentInbound = 1
        var protocols = MuxProtocols()
        protocols.handleRequests("/threads/hang/1") { _ in
            flags.bump("hang")
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                flags.bump("hang-cancelled")
                throw error
            }
            return .single([])
        }
        let serverTransport = SecureTransport(identity: Ed25519.PrivateKey())
        let listener = try await serverTransport.listen(on: Multiaddr("/ip4/127.0.0.1/tcp/0"))
        let (accepted, acceptedContinuation) = AsyncStream<MuxConnection>.makeStream()
        let serverTask = Task {
            try await listener.run { [protocols, options] channel in
                let connection = MuxConnection(channel, protocols: protocols, options: options)
                acceptedContinuation.yield(connection)
                try? await connection.run()
                flags.bump("run-returned")
            }
        }
        defer { serverTask.cancel() }
        let address = try #require(listener.localAddress)
        let channel = try await SecureTransport(identity: Ed25519.PrivateKey())
            .dial(address.encapsulate(Multiaddr("/p2p/\(serverTransport.identity.publicKey.peerID)")))
        let client = MuxConnection(channel, protocols: MuxProtocols())
        let clientTask = Task { try await client.run() }
        defer { clientTask.cancel() }
        var iterator = accepted.makeAsyncIterator()
        let server = try #require(await iterator.next())

        let first = Task { try await client.request("/threads/hang/1", [1]) }
        #expect(await TestKit.eventually { flags.get("hang") == 1 })
        let second = Task { try await client.request("/threads/hang/1", [2]) }
        // Time for the second request to reach the server, whose read loop then waits for the slot.
        try await Task.sleep(for: .milliseconds(500))
        #expect(flags.get("hang") == 1)
        await server.close()
        #expect(await TestKit.eventually { flags.get("run-returned") == 1 }, "run() did not return after close()")
        // The handler holding the slot was cancelled, not left running.
        #expect(flags.get("hang-cancelled") >= 1)
        first.cancel()
        second.cancel()
        await client.close()
        await listener.close()
    }

    @Test func keepAlivePingsKeepAnIdleConnectionOpen() async throws {
        // Without pongs the connection would close after 15 silent intervals (3 s); the test stays
        // idle twice that long. The allowance is wide because a loaded machine running the whole
        // suite has been seen to take over 600 ms to answer a ping.
        var options = MuxConnection.Options()
        options.keepAliveInterval = .milliseconds(200)
        options.keepAliveMisses = 15
        let (client, listener, tasks) = try await Self.pair(options: options)
        defer { tasks.forEach { $0.cancel() } }
        try await Task.sleep(for: .seconds(6))  // thirty intervals of silence but for pings
        #expect(try await client.request("/threads/echo/1", [1]) == Array("echo:".utf8) + [1])
        await listener.close()
    }
}

@Suite(.timeLimit(.minutes(5))) struct MuxKeepAliveTests {
    /// A peer that reads everything and answers nothing is dropped after unanswered pings.
    @Test func silentPeerIsClosed() async throws {
        let server = SecureTransport(identity: Ed25519.PrivateKey())
        let listener = try await server.listen(on: Multiaddr("/ip4/127.0.0.1/tcp/0"))
        let serverTask = Task {
            try await listener.run { channel in
                try? await channel.channel.executeThenClose { inbound, _ in
                    for try await _ in inbound {}
                }
            }
        }
        defer { serverTask.cancel() }
        let address = try #require(listener.localAddress)
        let channel = try await SecureTransport(identity: Ed25519.PrivateKey())
            .dial(address.encapsulate(Multiaddr("/p2p/\(server.identity.publicKey.peerID)")))
        var options = MuxConnection.Options()
        options.keepAliveInterval = .milliseconds(50)
        let client = MuxConnection(channel, protocols: MuxProtocols(), options: options)
        try? await client.run()  // returns once the keep-alive gives up
        await #expect(throws: TransportError.connectionClosed) { _ = try await client.request("/threads/echo/1", []) }
        await listener.close()
    }
}

@Suite(.timeLimit(.minutes(5))) struct MuxFrameTests {
    static let frames: [MuxFrame] = [
        MuxFrame(kind: .request, id: 1, protocolName: "/threads/log/1", payload: [1, 2, 3]),
        MuxFrame(kind: .message, id: 0, protocolName: "/threads/exchange/1", payload: []),
        MuxFrame(kind: .response, id: 300, payload: [UInt8](repeating: 9, count: 1000)),
        MuxFrame(kind: .item, id: 2), MuxFrame(kind: .end, id: 2),
        MuxFrame(kind: .error, id: 3, payload: Array("no".utf8)),
        MuxFrame(kind: .cancel, id: UInt64(Int64.max)), MuxFrame(kind: .ping, id: 0), MuxFrame(kind: .pong, id: 0),
    ]

    @Test func roundTripInAnySplit() throws {
        var wire = ByteBuffer()
        for frame in Self.frames { try frame.encode(into: &wire) }
        let bytes = Array(buffer: wire)
        var rng = SeededGenerator(seed: 3)
        for round in 0..<50 {
            var buffer = ByteBuffer()
            var decoded: [MuxFrame] = []
            var index = 0
            while index < bytes.count {
                // Byte by byte in the first round, random splits after.
                let step = round == 0 ? 1 : 1 + rng.below(300)
                buffer.writeBytes(bytes[index..<min(index + step, bytes.count)])
                index += step
                while let frame = try MuxFrame.decode(from: &buffer) { decoded.append(frame) }
            }
            #expect(decoded == Self.frames)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func rejectsOversizedAndMalformedFrames() throws {
        var huge = ByteBuffer(bytes: Varint.encode(UInt64(MuxFrame.maxBodyLength + 1)))
        #expect(throws: TransportError.self) { try MuxFrame.decode(from: &huge) }
        for body: [UInt8] in [[], [99, 0], [0, 1, 0], [0, 1, 5, 0x2f], [1, 0, 2, 0xff, 0xfe]] {
            var buffer = ByteBuffer(bytes: Varint.encode(UInt64(body.count)) + body)
            #expect(throws: TransportError.self, "\(body)") { try MuxFrame.decode(from: &buffer) }
        }
        var rng = SeededGenerator(seed: 4)
        for _ in 0..<5000 {
            let body = rng.bytes(rng.below(20))
            var buffer = ByteBuffer(bytes: Varint.encode(UInt64(body.count)) + body)
            if let frame = try? MuxFrame.decode(from: &buffer) {
                var again = ByteBuffer()
                try frame.encode(into: &again)
                #expect(Array(buffer: again) == Varint.encode(UInt64(body.count)) + body)
            }
        }
        #expect(throws: TransportError.self) {
            var out = ByteBuffer()
            try MuxFrame(kind: .request, id: 1, protocolName: "", payload: []).encode(into: &out)
        }
    }
}
