import ArgumentParser
import Foundation
import Multiformats
import Sodium
import Store
import Threads
import ThreadsDB
import Transport

/// `threads bench db`: inserts and findById next to raw LevelDB puts and gets of the same bytes,
/// an indexed query next to a full scan, and three nodes converging after concurrent writes.
struct DBBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "ThreadsDB inserts/findById vs raw LevelDB, index vs scan, 3-node convergence."
    )

    @Option(help: "Instances in the collection.") var instances: Int = 100_000
    @Option(help: "Instances per transaction for the bulk insert figure.") var batch: Int = 100
    @Option(help: "Writes in flight at once (they share synced writes).") var concurrency: Int = 64
    @Option(help: "Concurrent writes spread over three nodes for the convergence figure.")
    var convergeWrites: Int = 10_000

    func validate() throws {
        guard instances > 0, batch > 0, concurrency > 0, convergeWrites >= 3 else {
            throw ValidationError("counts must be positive")
        }
    }

    /// A threads bench node (its own LevelDB, replication on loopback) with a database on top.
    final class Node: @unchecked Sendable {
        let base: ThreadsBench.Node
        let db: ThreadDB
        let follower: Task<Void, Never>
        var logstore: Logstore { base.logstore }
        var manager: ConnectionManager { base.manager }
        var replicator: Replicator { base.replicator }
        var address: Multiaddr { base.address }

        init() async throws {
            base = try await ThreadsBench.Node()
            let replicator = base.replicator
            db = ThreadDB(logstore: base.logstore) { blocks, thread in await replicator.push(blocks, thread: thread) }
            let ingested = await replicator.ingested()
            let db = self.db
            follower = Task { await db.follow(ingested) }
        }

        func close() async {
            follower.cancel()
            await base.close()
        }
    }

    static func instance(_ n: Int) -> JSON {
        [
            "_id": .string(String(format: "i%08d", n)), "name": .string("instance \(n)"),
            "n": .number(Double(n % 1000)),
            "m": .number(Double(n % 1000)), "tags": ["a", "b"], "nested": ["x": .number(Double(n)), "y": "text"],
        ]
    }

    /// Runs `count` operations, `inFlight` at a time.
    static func concurrently(_ count: Int, inFlight: Int, _ body: @escaping @Sendable (Int) async throws -> Void)
        async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var issued = 0
            while issued < min(inFlight, count) {
                let n = issued
                group.addTask { try await body(n) }
                issued += 1
            }
            while try await group.next() != nil {
                guard issued < count else { continue }
                let n = issued
                group.addTask { try await body(n) }
                issued += 1
            }
        }
    }

    func run() async throws {
        print(
            "threads bench db: \(instances) instances (\(batch) per transaction, \(concurrency) in flight), convergence of \(convergeWrites) writes on 3 nodes"
        )
        let clock = ContinuousClock()
        let docs = (0..<instances).map { Self.instance($0).canonicalBytes }

        // Baselines: raw LevelDB with the same bytes.
        let rawPath = FileManager.default.temporaryDirectory.appendingPathComponent("bench-db-raw-\(UUID())").path
        let raw = try Database(path: rawPath)
        defer {
            raw.close()
            try? FileManager.default.removeItem(atPath: rawPath)
        }
        let keys = (0..<instances).map { Array(String(format: "i%08d", $0).utf8) }
        var start = clock.now
        for first in stride(from: 0, to: instances, by: batch) {
            var writes = WriteBatch()
            for n in first..<min(instances, first + batch) { writes.put(keys[n], docs[n]) }
            try raw.write(writes, sync: true)
        }
        let rawBatchRate = Double(instances) / (clock.now - start).seconds
        let singles = min(instances, 5000)
        start = clock.now
        try await Self.concurrently(singles, inFlight: concurrency) { n in
            try raw.put(Array("s\(n)".utf8), docs[n], sync: true)
        }
        let rawSingleRate = Double(singles) / (clock.now - start).seconds
        var random = SystemRandomNumberGenerator()
        let count = instances
        let probes = (0..<20_000).map { _ in Int.random(in: 0..<count, using: &random) }
        start = clock.now
        for n in probes { blackHole(try raw.get(keys[n])) }
        let rawGetRate = Double(probes.count) / (clock.now - start).seconds

        // The database: bulk transactions, then single-instance transactions.
        let node = try await Node()
        let thread = ThreadID(variant: .raw)
        try node.logstore.addThread(thread, key: ThreadKey())
        let schema = try JSONSchema([
            "type": "object",
            "properties": ["name": ["type": "string"], "n": ["type": "number"], "m": ["type": "number"]],
            "required": ["name", "n"],
        ])
        try await node.db.newCollection(
            try CollectionDefinition(name: "bench", schema: schema, indexes: [FieldPath("n")]),
            in: thread
        )
        let db = node.db
        let batch = self.batch
        let instances = self.instances
        start = clock.now
        try await Self.concurrently((instances + batch - 1) / batch, inFlight: max(1, concurrency / 8)) { group in
            let range = (group * batch)..<min(instances, (group + 1) * batch)
            try await db.create(range.map(Self.instance), in: "bench", thread: thread)
        }
        let bulkRate = Double(instances) / (clock.now - start).seconds
        start = clock.now
        try await Self.concurrently(singles, inFlight: concurrency) { n in
            let value = JSON.number(Double(n % 1000))
            try await db.create([["name": "single", "n": value, "m": value]], in: "bench", thread: thread)
        }
        let singleRate = Double(singles) / (clock.now - start).seconds

        let reader = try db.reader(thread)
        start = clock.now
        for n in probes { blackHole(try reader.get("bench", id: String(format: "i%08d", n))) }
        let findRate = Double(probes.count) / (clock.now - start).seconds

        // An equality query through the index, and the same selectivity on an unindexed field.
        let indexed = try Query(["filter": ["n": 7]])
        let scanned = try Query(["filter": ["m": 7]])
        let viaIndex = try reader.explain("bench", indexed)
        let viaScan = try reader.explain("bench", scanned)
        guard viaIndex.index == "n", viaScan.index == nil, viaIndex.returned == viaScan.returned else {
            throw CLIError("the planner did not use the index as expected: \(viaIndex)")
        }
        var queries = 0
        start = clock.now
        while clock.now - start < .seconds(1) {
            blackHole(try reader.find("bench", indexed))
            queries += 1
        }
        let indexRate = Double(queries) / (clock.now - start).seconds
        queries = 0
        start = clock.now
        repeat {
            blackHole(try reader.find("bench", scanned))
            queries += 1
        } while clock.now - start < .seconds(1)
        let scanRate = Double(queries) / (clock.now - start).seconds
        await node.close()

        let convergence = try await converge()

        var table = BenchTable(header: ["figure", "value", "baseline", "ratio"])
        table.add(
            "inserts, \(batch) per transaction (instances/s)",
            formatRate(bulkRate, decimals: 0),
            formatRate(rawBatchRate, decimals: 0),
            formatPercent(bulkRate / rawBatchRate)
        )
        table.add(
            "inserts, 1 per transaction, \(concurrency) in flight (instances/s)",
            formatRate(singleRate, decimals: 0),
            formatRate(rawSingleRate, decimals: 0),
            formatPercent(singleRate / rawSingleRate)
        )
        table.add(
            "findById at \(instances) (lookups/s)",
            formatRate(findRate, decimals: 0),
            formatRate(rawGetRate, decimals: 0),
            formatPercent(findRate / rawGetRate)
        )
        table.add(
            "equality query, index vs full scan (queries/s)",
            formatRate(indexRate, decimals: 1),
            formatRate(scanRate, decimals: 2),
            formatRate(indexRate / scanRate, decimals: 0) + "x"
        )
        table.add(
            "3 nodes converge after \(convergeWrites) concurrent writes (s)",
            formatRate(convergence, decimals: 2),
            "-",
            "-"
        )
        print(table.render())
        print(
            "baselines: raw LevelDB puts of the same bytes (synced batches of \(batch); synced single puts, \(concurrency) in flight) and gets of the same keys; index vs scan: {n: 7} (indexed) and {m: 7} (same values, not indexed), \(viaIndex.returned) results each"
        )
    }

    /// Seconds from the start of concurrent writes on three connected nodes until all three hold
    /// every record and show the same digest.
    func converge() async throws -> Double {
        let clock = ContinuousClock()
        let nodes = [try await Node(), try await Node(), try await Node()]
        let thread = ThreadID(variant: .raw)
        let key = ThreadKey()
        for node in nodes {
            try node.logstore.addThread(thread, key: key)
            for other in nodes where other !== node { try node.logstore.addMember(other.manager.localPeer, to: thread) }
        }
        for (index, node) in nodes.enumerated() {
            for other in nodes[(index + 1)...] { _ = try await node.manager.connect(other.address) }
        }
        try await nodes[0].db.newCollection(
            try CollectionDefinition(name: "shared", schema: JSONSchema(["type": "object"]), indexes: [FieldPath("v")]),
            in: thread
        )
        let ids = (0..<200).map { "s\($0)" }
        try await nodes[0].db.create(ids.map { ["_id": .string($0), "v": 0] }, in: "shared", thread: thread)
        func converged(records: UInt64) throws -> Bool {
            var digests = Set<String>()
            for node in nodes {
                let total = try node.logstore.heads(of: thread).values.reduce(0) { $0 + $1.sequence + 1 }
                guard total == records else { return false }
                digests.insert(try node.db.reader(thread).digest())
            }
            return digests.count == 1
        }
        while try !converged(records: 2) { try await Task.sleep(for: .milliseconds(20)) }
        let perNode = convergeWrites / 3
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, node) in nodes.enumerated() {
                group.addTask {
                    try await Self.concurrently(perNode, inFlight: 16) { n in
                        let id = ids[(n * 7 + index * 13) % ids.count]
                        try await node.db.save(
                            [["_id": .string(id), "v": .number(Double(n)), "by": .number(Double(index))]],
                            in: "shared",
                            thread: thread
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        let expected = UInt64(2 + 3 * perNode)
        while try !converged(records: expected) {
            guard clock.now - start < .seconds(300) else { throw CLIError("no convergence after 300 s") }
            try await Task.sleep(for: .milliseconds(10))
        }
        let seconds = (clock.now - start).seconds
        // Replication first, so no node pulls from one already gone.
        for node in nodes { await node.replicator.stop() }
        for node in nodes { await node.close() }
        return seconds
    }
}
