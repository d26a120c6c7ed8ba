import Crypto
import Foundation
import Multiformats
import NIOCore
import Sodium
import Synchronization
import Testing
import Transport

/// A sender faster than its reader is held back instead of queueing the difference in memory.
@Suite(.timeLimit(.minutes(5))) struct BackpressureTests {
    /// Counts what the writer has handed over and whether it finished.
    final class Progress: Sendable {
        private let state = Mutex<(accepted: Int, finished: Bool)>((0, false))
        func add(_ n: Int) { state.withLock { $0.accepted += n } }
        func finish() { state.withLock { $0.finished = true } }
        var snapshot: (accepted: Int, finished: Bool) { state.withLock { $0 } }

        /// Returns once nothing more was accepted for half a second (or after a minute).
        func untilStalled() async throws {
            var last = -1
            var still = 0
            for _ in 0..<600 where still < 5 {
                try await Task.sleep(for: .milliseconds(100))
                let now = snapshot.accepted
                still = now == last ? still + 1 : 0
                last = now
            }
        }
    }

    /// A new client's connection to `server` through its `listener`.
    static func dial(_ listener: SecureListener, of server: SecureTransport) async throws -> SecureChannel {
        let address = try #require(listener.localAddress)
        let full = try address.encapsulate(Multiaddr("/p2p/\(server.identity.publicKey.peerID)"))
        return try await SecureTransport(identity: Ed25519.PrivateKey()).dial(full)
    }

    static let chunk = 64 << 10
    static let chunks = 1024  // 64 MiB

    /// The bytes of chunk `i`: its index repeated, so order and content can be checked.
    static func chunk(_ i: Int) -> ByteBuffer {
        ByteBuffer(repeating: UInt8(i % 251), count: chunk)
    }

    @Test func aStalledReaderHoldsTheWriterBackAndThenGetsEveryByte() async throws {
        let server = SecureTransport(identity: Ed25519.PrivateKey())
        let listener = try await server.listen(on: Multiaddr("/ip4/127.0.0.1/tcp/0"))
        let (startReading, go) = AsyncStream<Void>.makeStream()
        let (results, sink) = AsyncStream<(Int, [UInt8])>.makeStream()
        let serverTask = Task {
            try await listener.run { connection in
                let result: (Int, [UInt8]) =
                    (try? await connection.channel.executeThenClose { inbound, _ -> (Int, [UInt8]) in
                        // Nothing is read until the test says so.
                        var iterator = startReading.makeAsyncIterator()
                        _ = await iterator.next()
                        var received = 0
                        var digest = SHA256()
                        for try await piece in inbound {
                            piece.withUnsafeReadableBytes { digest.update(bufferPointer: $0) }
                            received += piece.readableBytes
                            if received >= Self.chunk * Self.chunks { break }
                        }
                        return (received, Array(digest.finalize()))
                    }) ?? (0, [])
                sink.yield(result)
            }
        }
        defer { serverTask.cancel() }
        let connection = try await Self.dial(listener, of: server)
        let progress = Progress()
        let writer = Task {
            var digest = SHA256()
            for i in 0..<Self.chunks {
                let chunk = Self.chunk(i)
                chunk.withUnsafeReadableBytes { digest.update(bufferPointer: $0) }
                try await connection.write(chunk)
                progress.add(Self.chunk)
            }
            progress.finish()
            return Array(digest.finalize())
        }

        // Wait until the writer stops advancing: the window, the kernel's socket buffers and the
        // reader's small inbound buffer are full.
        try await progress.untilStalled()
        let stalled = progress.snapshot
        #expect(!stalled.finished, "the writer finished 64 MiB that nobody read")
        #expect(stalled.accepted < 32 << 20, "\(stalled.accepted) bytes taken with the reader stalled")

        go.yield()
        var iterator = results.makeAsyncIterator()
        let (received, digest) = try #require(await iterator.next())
        #expect(received == Self.chunk * Self.chunks)
        // The same bytes in the same order.
        #expect(digest == (try await writer.value))
        #expect(progress.snapshot.finished)
        try await connection.channel.executeThenClose { _, _ in }
        await listener.close()
    }

    /// A writer waiting for room can be cancelled; it stops waiting at once and the connection
    /// stays usable.
    @Test(.timeLimit(.minutes(2))) func aWaitingWriterCanBeCancelled() async throws {
        let server = SecureTransport(identity: Ed25519.PrivateKey())
        let listener = try await server.listen(on: Multiaddr("/ip4/127.0.0.1/tcp/0"))
        let (startReading, go) = AsyncStream<Void>.makeStream()
        let (results, sink) = AsyncStream<Int>.makeStream()
        let serverTask = Task {
            try await listener.run { connection in
                let received =
                    (try? await connection.channel.executeThenClose { inbound, _ -> Int in
                        var iterator = startReading.makeAsyncIterator()
                        _ = await iterator.next()
                        var received = 0
                        for try await piece in inbound {
                            received += piece.readableBytes
                            if piece.readableBytesView.last == 0xff { break }
                        }
                        return received
                    }) ?? 0
                sink.yield(received)
            }
        }
        defer { serverTask.cancel() }
        let connection = try await Self.dial(listener, of: server)

        // Fill everything below the writer until a write waits.
        let progress = Progress()
        let filler = Task {
            while true {
                try Task.checkCancellation()
                try await connection.write(ByteBuffer(repeating: 1, count: Self.chunk))
                progress.add(Self.chunk)
            }
        }
        try await progress.untilStalled()
        filler.cancel()
        await #expect(throws: CancellationError.self) { try await filler.value }

        // The reader drains what was taken; a last write still goes through after the cancel.
        go.yield()
        try await connection.write(ByteBuffer(bytes: [0xff]))
        var iterator = results.makeAsyncIterator()
        #expect(await iterator.next() == progress.snapshot.accepted + 1)
        try await connection.channel.executeThenClose { _, _ in }
        await listener.close()
    }

    @Test func writingToAClosedConnectionFails() async throws {
        let server = SecureTransport(identity: Ed25519.PrivateKey())
        let listener = try await server.listen(on: Multiaddr("/ip4/127.0.0.1/tcp/0"))
        let serverTask = Task {
            try await listener.run { connection in try? await connection.channel.executeThenClose { _, _ in } }
        }
        defer { serverTask.cancel() }
        let connection = try await Self.dial(listener, of: server)
        try await connection.channel.executeThenClose { _, _ in }
        await #expect(throws: TransportError.connectionClosed) {
            try await connection.write(ByteBuffer(string: "too late"))
        }
        await listener.close()
    }
}
