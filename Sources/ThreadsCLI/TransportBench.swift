import ArgumentParser
import Foundation
import Multiformats
import NIOCore
import NIOPosix
import Sodium
import Transport

/// `threads bench transport`: secure, multiplexed transfer between two nodes on loopback next to
/// a raw TCP transfer of the same bytes in the same run; request round trips; handshakes per second.
struct TransportBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport",
        abstract: "Throughput vs raw TCP, request latency and handshake rate on loopback."
    )

    @Option(help: "Bytes to transfer in each throughput run, in MiB.")
    var mebibytes: Int = 1024

    @Option(help: "Request/response round trips to time.")
    var requests: Int = 5000

    @Option(help: "Handshakes to time.")
    var handshakes: Int = 300

    /// Each end of a transfer has an event loop (a thread) of its own, as two hosts would: on one
    /// shared loop the sender's encryption and the receiver's decryption would take turns on one core.
    static let senderLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    static let receiverLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    func validate() throws {
        guard mebibytes > 0, requests > 0, handshakes > 0 else { throw ValidationError("counts must be positive") }
    }

    func run() async throws {
        let total = mebibytes << 20
        print(
            "threads bench transport: \(mebibytes) MiB per transfer over 127.0.0.1; \(requests) requests; \(handshakes) handshakes"
        )
        print("")
        let (raw, rawMemory, rawCPU) = try await Self.measured { try await rawTCP(bytes: total) }
        let (secure, secureMemory, secureCPU) = try await Self.measured { try await secureStream(bytes: total) }
        let (muxed, muxedMemory, muxedCPU) = try await Self.measured { try await multiplexed(bytes: total) }
        let cipher = CipherRates.measure(bytes: min(total, 256 << 20))
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        // What raw TCP cost per byte (the kernel's and NIO's work, which the secure channel does
        // too), plus one seal and one open of every byte at the faster library's rates.
        let tcpCPUPerByte = rawCPU.seconds / Double(total)
        let cipherCPUPerByte = 1 / cipher.bestSeal + 1 / cipher.bestOpen
        let ceiling = cores / (tcpCPUPerByte + cipherCPUPerByte) / 1e6

        var table = BenchTable(header: ["transfer", "MB/s", "vs raw TCP", "cores busy", "memory held (both ends)"])
        table.add(
            "raw TCP socket (NIO, no encryption)",
            formatRate(raw),
            formatPercent(1),
            formatRate(rawCPU.cores, decimals: 2),
            ProgressBar.size(rawMemory)
        )
        table.add(
            "Noise secure channel (stream)",
            formatRate(secure),
            formatPercent(secure / raw),
            formatRate(secureCPU.cores, decimals: 2),
            ProgressBar.size(secureMemory)
        )
        table.add(
            "Noise + multiplexed one-way messages",
            formatRate(muxed),
            formatPercent(muxed / raw),
            formatRate(muxedCPU.cores, decimals: 2),
            ProgressBar.size(muxedMemory)
        )
        for (name, rate) in [
            ("ChaCha20-Poly1305 seal, libsodium, one core", cipher.sodiumSeal),
            ("ChaCha20-Poly1305 open, libsodium, one core", cipher.sodiumOpen),
            ("ChaCha20-Poly1305 seal, swift-crypto, one core", cipher.cryptoSeal),
            ("ChaCha20-Poly1305 open, swift-crypto, one core", cipher.cryptoOpen),
        ] {
            table.add(name, formatRate(rate / 1e6), formatPercent(rate / 1e6 / raw), "1.00", "-")
        }
        table.add(
            "ceiling for any secure channel here (below)",
            formatRate(ceiling),
            formatPercent(ceiling / raw),
            formatRate(cores, decimals: 2),
            "-"
        )
        print(table.render())
        print("")
        print("Memory held: the largest growth of this process's anonymous memory during the transfer.")
        print("Cores busy: this process's CPU time (both ends, user and system) over the transfer's time.")
        print("")
        print(
            "Ceiling: both ends share this machine's \(Int(cores)) cores. Raw TCP took \(formatRate(tcpCPUPerByte * 1e9, decimals: 2)) s of CPU per GB"
        )
        print(
            "(the kernel's and NIO's work, which a secure channel does too); sealing and opening every byte at the faster"
        )
        print(
            "library's rates takes \(formatRate(cipherCPUPerByte * 1e9, decimals: 2)) s more. \(Int(cores)) cores / \(formatRate((tcpCPUPerByte + cipherCPUPerByte) * 1e9, decimals: 2)) s per GB = \(formatRate(ceiling)) MB/s, \(formatPercent(ceiling / raw)) of raw TCP:"
        )
        print("no secure channel can pass that on this machine, whatever its framing. Target: ≥ 60 % of raw TCP.")
        print("")
        try await latency()
        try await handshakeRate()
    }

    /// Runs `body` while sampling this process's anonymous memory; returns its result, the peak
    /// growth over the level before it started, and the CPU this process spent meanwhile (seconds,
    /// and cores kept busy).
    static func measured(_ body: () async throws -> Double) async throws -> (
        Double, UInt64, (seconds: Double, cores: Double)
    ) {
        let before = RSSSampler.current(pid: Int(getpid())).anonymous
        let sampler = RSSSampler(pid: Int(getpid()))
        let start = ContinuousClock.now
        let cpu = CPUTime.now
        let result = try await body()
        let end = CPUTime.now
        let wall = (ContinuousClock.now - start).seconds
        let (peak, _) = await sampler.stop()
        return (result, peak > before ? peak - before : 0, (end.seconds(since: cpu), end.cores(since: cpu, wall: wall)))
    }

    /// Sends `bytes` in 64 KiB writes over plain TCP; returns MB/s measured at the receiver.
    private func rawTCP(bytes total: Int) async throws -> Double {
        let server = try await ServerBootstrap(group: Self.receiverLoop)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let port = server.channel.localAddress!.port!
        let receiver = Task {
            try await server.executeThenClose { inbound in
                for try await connection in inbound {
                    return try await connection.executeThenClose { data, _ in
                        var received = 0
                        for try await chunk in data {
                            received += chunk.readableBytes
                            if received >= total { break }
                        }
                        return received
                    }
                }
                return 0
            }
        }
        let client = try await ClientBootstrap(group: Self.senderLoop)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let chunk = ByteBuffer(bytes: Random.bytes(count: 64 * 1024))
        let start = ContinuousClock.now
        try await client.executeThenClose { _, outbound in
            var sent = 0
            while sent < total {
                try await outbound.write(chunk)
                sent += chunk.readableBytes
            }
            _ = try await receiver.value
        }
        return Double(total) / (ContinuousClock.now - start).seconds / 1e6
    }

    private func pair() async throws -> (SecureListener, Multiaddr, SecureTransport) {
        let server = SecureTransport(identity: Ed25519.PrivateKey(), group: Self.receiverLoop)
        let listener = try await server.listen(on: Multiaddr("/ip4/127.0.0.1/tcp/0"))
        let address = try listener.localAddress!.encapsulate(Multiaddr("/p2p/\(server.identity.publicKey.peerID)"))
        return (listener, address, SecureTransport(identity: Ed25519.PrivateKey(), group: Self.senderLoop))
    }

    /// The same transfer through the Noise channel.
    private func secureStream(bytes total: Int) async throws -> Double {
        let (listener, address, client) = try await pair()
        let done = AsyncStream<Int>.makeStream()
        let serverTask = Task {
            try await listener.run { connection in
                let received =
                    (try? await connection.channel.executeThenClose { data, _ in
                        var received = 0
                        for try await chunk in data {
                            received += chunk.readableBytes
                            if received >= total { break }
                        }
                        return received
                    }) ?? 0
                done.continuation.yield(received)
            }
        }
        defer { serverTask.cancel() }
        let connection = try await client.dial(address)
        let chunk = ByteBuffer(bytes: Random.bytes(count: 64 * 1024))
        let start = ContinuousClock.now
        try await connection.channel.executeThenClose { _, _ in
            var sent = 0
            while sent < total {
                try await connection.write(chunk)
                sent += chunk.readableBytes
            }
            var iterator = done.stream.makeAsyncIterator()
            _ = await iterator.next()
        }
        let rate = Double(total) / (ContinuousClock.now - start).seconds / 1e6
        await listener.close()
        return rate
    }

    /// The same transfer as 256 KiB one-way messages through the multiplexer.
    private func multiplexed(bytes total: Int) async throws -> Double {
        let counter = ByteCounter()
        let (done, finished) = AsyncStream<Void>.makeStream()
        var protocols = MuxProtocols()
        protocols.handleMessages("/threads/bench/1") { message in
            if counter.add(message.payload.count) >= total { finished.yield() }
        }
        let (listener, address, client) = try await pair()
        let serverProtocols = protocols
        let serverTask = Task {
            try await listener.run { channel in try? await MuxConnection(channel, protocols: serverProtocols).run() }
        }
        defer { serverTask.cancel() }
        let connection = MuxConnection(try await client.dial(address), protocols: MuxProtocols())
        let runTask = Task { try await connection.run() }
        let payload = Random.bytes(count: 256 * 1024)
        let start = ContinuousClock.now
        var sent = 0
        while sent < total {
            try await connection.message("/threads/bench/1", payload)
            sent += payload.count
        }
        var iterator = done.makeAsyncIterator()
        _ = await iterator.next()
        let rate = Double(total) / (ContinuousClock.now - start).seconds / 1e6
        await connection.close()
        runTask.cancel()
        await listener.close()
        return rate
    }

    private func latency() async throws {
        var protocols = MuxProtocols()
        protocols.handleRequests("/threads/ping/1") { .single($0.payload) }
        let (listener, address, client) = try await pair()
        let serverProtocols = protocols
        let serverTask = Task {
            try await listener.run { channel in try? await MuxConnection(channel, protocols: serverProtocols).run() }
        }
        defer { serverTask.cancel() }
        let connection = MuxConnection(try await client.dial(address), protocols: MuxProtocols())
        let runTask = Task { try await connection.run() }
        var samples: [Double] = []
        samples.reserveCapacity(requests)
        for _ in 0..<100 { _ = try await connection.request("/threads/ping/1", [1, 2, 3, 4]) }
        for _ in 0..<requests {
            let start = ContinuousClock.now
            _ = try await connection.request("/threads/ping/1", [1, 2, 3, 4])
            samples.append((ContinuousClock.now - start).seconds * 1e6)
        }
        samples.sort()
        let p50 = samples[samples.count / 2]
        let p99 = samples[min(samples.count - 1, samples.count * 99 / 100)]
        print("request/response round trip (4-byte payload): p50 \(formatRate(p50)) µs, p99 \(formatRate(p99)) µs")
        await connection.close()
        runTask.cancel()
        await listener.close()
    }

    private func handshakeRate() async throws {
        let (listener, address, client) = try await pair()
        let serverTask = Task {
            try await listener.run { connection in try? await connection.channel.executeThenClose { _, _ in } }
        }
        defer { serverTask.cancel() }
        let start = ContinuousClock.now
        for _ in 0..<handshakes {
            let connection = try await client.dial(address)
            try await connection.channel.executeThenClose { _, _ in }
        }
        let rate = Double(handshakes) / (ContinuousClock.now - start).seconds
        print(
            "handshakes (TCP connect + Noise XX + identity proofs), one at a time: \(formatRate(rate, decimals: 0))/s"
        )
        await listener.close()
    }
}

/// Bytes received by the multiplexed benchmark's handler.
final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0

    func add(_ n: Int) -> Int {
        lock.withLock {
            total += n
            return total
        }
    }
}
