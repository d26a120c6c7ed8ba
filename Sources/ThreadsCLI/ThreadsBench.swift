import ArgumentParser
internal import CSodium
import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Threads
import Transport

/// `threads bench threads`: durable appends next to libsodium's Ed25519 sign rate, write-to-visible
/// latency between two nodes on loopback, and a new member's catch-up rate.
struct ThreadsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threads",
        abstract: "Append rate vs Ed25519 signing, write-to-visible latency, catch-up rate."
    )

    @Option(help: "Records appended for the append-rate figure.")
    var appends: Int = 20_000

    @Option(help: "Appends in flight at once (they share synced writes).")
    var concurrency: Int = 64

    @Option(help: "Writes timed for the latency figure.")
    var samples: Int = 1000

    @Option(help: "Records a new member catches up on.")
    var catchUp: Int = 100_000

    func validate() throws {
        guard appends > 0, concurrency > 0, samples > 0, catchUp > 0 else {
            throw ValidationError("counts must be positive")
        }
    }

    final class Node: @unchecked Sendable {
        let path: String
        let database: Database
        let logstore: Logstore
        let manager: ConnectionManager
        let replicator: Replicator
        let address: Multiaddr

        init() async throws {
            path =
                FileManager.default.temporaryDirectory.appendingPathComponent("bench-threads-\(UUID().uuidString)").path
            database = try Database(path: path)
            logstore = Logstore(database: database, blockstore: Blockstore(database: database))
            var protocols = MuxProtocols()
            let slot = Slot<Replicator>()
            Replicator.register(in: &protocols, slot: slot)
            manager = ConnectionManager(
                transport: SecureTransport(identity: Ed25519.PrivateKey()),
                protocols: protocols
            )
            replicator = Replicator(logstore: logstore, manager: manager, pullInterval: .seconds(3600))
            slot.value = replicator
            address = try (try await manager.listen(on: try Multiaddr("/ip4/127.0.0.1/tcp/0")))
                .encapsulate(Multiaddr("/p2p/\(manager.localPeer)"))
            await replicator.start()
        }

        func close() async {
            await replicator.stop()
            await manager.shutdown()
            database.close()
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// Records checked per second on one core as a receiver checks them (`Logstore.verify` of
    /// blocks hashed from their bytes), over the log's first records.
    static func verifyRate(of logstore: Logstore, thread: ThreadID, clock: ContinuousClock) throws -> Double {
        let log = try logstore.ownLogKey(in: thread).publicKey.peerID
        let raw = try logstore.entries(of: log, limit: 2000, in: thread).map { _, entry in
            try [entry.record, entry.event, entry.header, entry.body].map { cid in
                guard let bytes = try logstore.blockstore.get(cid) else { throw CLIError("block \(cid) is missing") }
                return bytes
            }
        }
        let start = clock.now
        for blocks in raw {
            let incoming = try Logstore.IncomingRecord(
                record: Block(bytes: blocks[0], codec: Multicodec.dagCBOR),
                event: Block(bytes: blocks[1], codec: Multicodec.dagCBOR),
                header: Block(bytes: blocks[2], codec: Multicodec.dagCBOR),
                body: Block(bytes: blocks[3], codec: Multicodec.dagCBOR)
            )
            blackHole(try logstore.verify(incoming, in: thread, hashed: true))
        }
        return Double(raw.count) / (clock.now - start).seconds
    }

    /// Calls of `body` per second, over about a second.
    static func rate(_ clock: ContinuousClock, _ body: () -> Void) -> Double {
        var calls = 0
        let start = clock.now
        while clock.now - start < .seconds(1) {
            for _ in 0..<64 { body() }
            calls += 64
        }
        return Double(calls) / (clock.now - start).seconds
    }

    /// Appends `count` records durably, keeping `inFlight` appends going at once.
    static func append(_ count: Int, copiesOf body: [UInt8], to thread: ThreadID, in logstore: Logstore, inFlight: Int)
        async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var issued = 0
            while issued < min(inFlight, count) {
                group.addTask { try await logstore.appendDurably(body, to: thread) }
                issued += 1
            }
            while try await group.next() != nil {
                guard issued < count else { continue }
                group.addTask { try await logstore.appendDurably(body, to: thread) }
                issued += 1
            }
        }
    }

    func run() async throws {
        print(
            "threads bench threads: \(appends) appends (\(concurrency) in flight), \(samples) latency samples, catch-up of \(catchUp) records"
        )
        let body = Array(#"{"_id":"01J9Z3","name":"benchmark","count":42,"tags":["a","b"]}"#.utf8)
        let clock = ContinuousClock()

        // Baseline: libsodium signing a message the size of a record's signed content, called
        // directly. Appends sign through `Ed25519.PrivateKey` (swift-crypto), timed alongside.
        let message = Random.bytes(count: 160)
        var rawPublic = [UInt8](repeating: 0, count: 32)
        var rawSecret = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_keypair(&rawPublic, &rawSecret)
        var rawSignature = [UInt8](repeating: 0, count: 64)
        let signRate = Self.rate(clock) {
            _ = crypto_sign_detached(&rawSignature, nil, message, UInt64(message.count), rawSecret)
            blackHole(rawSignature)
        }
        let signer = Ed25519.PrivateKey()
        let layerSignRate = Self.rate(clock) { blackHole(signer.signature(for: message)) }

        // Durable appends with group commit.
        let writer = try await Node()
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        try writer.logstore.addThread(thread, key: key)
        let appendStart = clock.now
        let appendCPU = CPUTime.now
        try await Self.append(appends, copiesOf: body, to: thread, in: writer.logstore, inFlight: concurrency)
        let appendSeconds = (clock.now - appendStart).seconds
        let appendRate = Double(appends) / appendSeconds
        let appendCores = CPUTime.now.cores(since: appendCPU, wall: appendSeconds)
        let sequentialStart = clock.now
        for _ in 0..<500 { try writer.logstore.append(body, to: thread) }
        let sequentialRate = 500 / (clock.now - sequentialStart).seconds

        // What a receiver does per record before storing it (hash the blocks, decrypt, check the
        // signature), on one core, next to libsodium's bare signature check.
        let verifyRate = try Self.verifyRate(of: writer.logstore, thread: thread, clock: clock)
        let rawVerifyRate = Self.rate(clock) {
            blackHole(crypto_sign_verify_detached(rawSignature, message, UInt64(message.count), rawPublic))
        }

        // Write-to-visible: b sees each of a's records as it is pushed.
        let reader = try await Node()
        try reader.logstore.addThread(thread, key: key)
        try reader.logstore.addMember(writer.manager.localPeer, to: thread)
        let stream = await reader.replicator.ingested()
        var arrivals = stream.makeAsyncIterator()
        _ = try await reader.manager.connect(writer.address)
        // Catch up on the appends above first, so the samples time single pushes.
        _ = await reader.replicator.pull(thread, from: writer.manager.localPeer)
        try writer.logstore.addMember(reader.manager.localPeer, to: thread)
        var latencies: [Double] = []
        for _ in 0..<samples {
            let start = clock.now
            let (record, blocks) = try await writer.logstore.appendDurably(body, to: thread)
            await writer.replicator.push(blocks, thread: thread)
            while let (_, seen) = await arrivals.next(), seen.cid != record.cid {}
            latencies.append((clock.now - start).seconds * 1000)
        }
        latencies.sort()

        // Catch-up: a new member fetches every record of a long log.
        let source = try await Node()
        let big = ThreadID(variant: .raw)
        try source.logstore.addThread(big, key: key)
        try await Self.append(catchUp, copiesOf: body, to: big, in: source.logstore, inFlight: 256)
        let newcomer = try await Node()
        try newcomer.logstore.addThread(big, key: key)
        _ = try await newcomer.manager.connect(source.address)
        let catchStart = clock.now
        let catchCPU = CPUTime.now
        let fetched = await newcomer.replicator.pull(big, from: source.manager.localPeer)
        let catchSeconds = (clock.now - catchStart).seconds
        let catchRate = Double(fetched) / catchSeconds
        let catchCores = CPUTime.now.cores(since: catchCPU, wall: catchSeconds)
        guard fetched == catchUp else { throw CLIError("caught up on \(fetched) of \(catchUp) records") }

        var table = BenchTable(header: ["figure", "value", "baseline", "ratio", "target"])
        table.add("Ed25519 sign, libsodium (signatures/s)", formatRate(signRate, decimals: 0), "-", "-", "-")
        table.add(
            "Ed25519 sign, as appends sign (signatures/s)",
            formatRate(layerSignRate, decimals: 0),
            formatRate(signRate, decimals: 0),
            formatPercent(layerSignRate / signRate),
            "-"
        )
        table.add(
            "durable appends, \(concurrency) in flight (records/s)",
            formatRate(appendRate, decimals: 0),
            formatRate(signRate, decimals: 0),
            formatPercent(appendRate / signRate),
            "≥ 50 %"
        )
        table.add(
            "durable appends, one at a time (records/s)",
            formatRate(sequentialRate, decimals: 0),
            formatRate(signRate, decimals: 0),
            formatPercent(sequentialRate / signRate),
            "-"
        )
        table.add(
            "write-to-visible on a 2nd node, p50 (ms)",
            formatRate(latencies[latencies.count / 2], decimals: 2),
            "-",
            "-",
            "≤ 5"
        )
        table.add(
            "write-to-visible on a 2nd node, p99 (ms)",
            formatRate(latencies[min(latencies.count - 1, latencies.count * 99 / 100)], decimals: 2),
            "-",
            "-",
            "-"
        )
        table.add("Ed25519 verify, libsodium (signatures/s)", formatRate(rawVerifyRate, decimals: 0), "-", "-", "-")
        table.add(
            "record checks, one core (records/s)",
            formatRate(verifyRate, decimals: 0),
            formatRate(rawVerifyRate, decimals: 0),
            formatPercent(verifyRate / rawVerifyRate),
            "-"
        )
        table.add("catch-up of \(catchUp) records (records/s)", formatRate(catchRate, decimals: 0), "-", "-", "≥ 20000")
        print(table.render())
        print("")
        // Both ends of the catch-up run in this process, on the same cores: the CPU time covers
        // the source's serving as well as the newcomer's checks and writes.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        for (name, busy, rate) in [("appends", appendCores, appendRate), ("catch-up", catchCores, catchRate)] {
            print(
                "\(name): \(formatRate(busy, decimals: 2)) of \(cores) cores busy,"
                    + " \(formatRate(busy / rate * 1e6, decimals: 0)) µs of CPU per record"
            )
        }
        for node in [writer, reader, source, newcomer] { await node.close() }
    }
}
