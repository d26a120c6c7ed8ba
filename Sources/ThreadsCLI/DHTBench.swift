import ArgumentParser
import DHT
import Foundation
import Multiformats
import Sodium

/// `threads bench dht`: a network of real DHT nodes in one process, bootstrapped one after another,
/// then lookups of random live nodes with none and with a share of the nodes killed.
struct DHTBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dht",
        abstract: "Simulate a DHT of many nodes: lookup success, hops and messages, with nodes killed.",
        discussion: """
            Every node runs the real DHT code (signed DAG-CBOR datagrams, routing table, iterative \
            lookups). --transport udp gives each node its own UDP socket on 127.0.0.1; --transport \
            memory (default) delivers datagrams in memory, which keeps the same code above the socket \
            and spares the kernel. Hops: rounds of requests until the target was learned of.
            """
    )

    enum Network: String, ExpressibleByArgument, CaseIterable {
        case memory, udp
    }

    @Option(help: "Nodes in the network.")
    var nodes: Int = 500

    @Option(help: "Lookups per scenario.")
    var lookups: Int = 300

    @Option(help: "Share of nodes killed for the second scenario, in percent.")
    var killPercent: Int = 25

    @Option(help: "memory or udp.")
    var transport: Network = .memory

    @Option(help: "Request timeout in milliseconds (one retry follows a timeout).")
    var timeoutMilliseconds: Int = 400

    @Option(help: "Lookups run at the same time.")
    var concurrency: Int = 16

    func validate() throws {
        guard nodes >= 20 else { throw ValidationError("--nodes must be at least 20") }
        guard lookups > 0, concurrency > 0, timeoutMilliseconds > 0 else {
            throw ValidationError("counts must be positive")
        }
        guard (0..<100).contains(killPercent) else { throw ValidationError("--kill-percent must be 0…99") }
    }

    struct Figures {
        var success = 0
        var hops: [Int] = []
        var messages: [Int] = []
        var seconds: [Double] = []
    }

    func run() async throws {
        var options = DHTNode.Options()
        options.requestTimeout = .milliseconds(timeoutMilliseconds)
        options.maintenanceInterval = .seconds(3600)
        let memory = MemoryNetwork()
        var network: [DHTNode] = []
        let clock = ContinuousClock()
        let started = clock.now
        print(
            "threads bench dht: \(nodes) nodes over \(transport == .udp ? "loopback UDP" : "an in-memory network"), k = \(options.table.k), α = \(options.alpha)"
        )
        for index in 0..<nodes {
            let socket: any DatagramSocket
            switch transport {
            case .udp: socket = try await UDPSocket.bind(try Multiaddr("/ip4/127.0.0.1/udp/0"))
            case .memory:
                socket = memory.socket(
                    at: try UDPEndpoint(
                        ip: [10, UInt8(index >> 16 & 0xff), UInt8(index >> 8 & 0xff), UInt8(index & 0xff)],
                        port: 4006
                    )
                )
            }
            let node = DHTNode(identity: Ed25519.PrivateKey(), socket: socket, options: options)
            await node.start()
            network.append(node)
        }
        // Each node joins through one random node already in; a few at a time, like nodes starting
        // up across a network.
        var joined = 1
        while joined < nodes {
            let batch = min(nodes - joined, max(1, joined / 4, 1))
            await withTaskGroup(of: Void.self) { group in
                for index in joined..<(joined + batch) {
                    let seed = network[Int.random(in: 0..<joined)].localContact.multiaddr
                    let node = network[index]
                    group.addTask { await node.bootstrap([seed]) }
                }
            }
            joined += batch
            if joined % 100 < batch || joined == nodes {
                progress("bootstrapped \(joined)/\(nodes) nodes")
            }
        }
        progress("")
        var sizes: [Int] = []
        for node in network {
            sizes.append(await node.table.count)
            if ProcessInfo.processInfo.environment["THREADS_BENCH_DEBUG"] != nil, await node.table.count == 0 {
                let stats = await node.stats
                print(
                    "empty table: \(node.localContact) received \(stats.datagramsReceived) sent \(stats.datagramsSent) timeouts \(stats.timeouts) dropped \(stats.dropped)"
                )
            }
        }
        sizes.sort()
        print(
            "bootstrap: \(formatRate((clock.now - started).seconds)) s; routing table size median \(sizes[sizes.count / 2]), min \(sizes[0]), max \(sizes[sizes.count - 1])"
        )
        print("")

        let all = await scenario(network, live: Array(0..<nodes))
        var dead = Set<Int>()
        let killCount = nodes * killPercent / 100
        while dead.count < killCount { dead.insert(Int.random(in: 0..<nodes)) }
        for index in dead {
            switch transport {
            case .udp: await network[index].stop()
            case .memory: memory.disconnect(network[index].localContact.endpoint)
            }
        }
        let live = (0..<nodes).filter { !dead.contains($0) }
        let wounded = await scenario(network, live: live)

        var table = BenchTable(header: [
            "scenario", "lookups", "success", "median hops", "p99 hops", "msgs/lookup", "median ms",
        ])
        for (name, figures) in [("all nodes alive", all), ("\(killPercent) % of nodes killed", wounded)] {
            table.add(
                name,
                "\(lookups)",
                formatPercent(Double(figures.success) / Double(lookups)),
                "\(Self.percentile(figures.hops, 0.5))",
                "\(Self.percentile(figures.hops, 0.99))",
                "\(Self.percentile(figures.messages, 0.5))",
                formatRate(Self.percentile(figures.seconds, 0.5) * 1000)
            )
        }
        print(table.render())
        var timeouts = 0
        var dropped = 0
        for node in network {
            let stats = await node.stats
            timeouts += stats.timeouts
            dropped += stats.droppedTotal
        }
        print("request timeouts (all nodes, whole run): \(timeouts); datagrams dropped as invalid: \(dropped)")
        let bound = log2(Double(nodes)) / 2
        print("")
        print(
            "targets: success ≥ 99 % with \(killPercent) % dead; median hops ≤ log2(\(nodes))/2 = \(formatRate(bound, decimals: 2))"
        )
        for node in network { await node.stop() }
    }

    /// Lookups of random live nodes by random live nodes.
    private func scenario(_ network: [DHTNode], live: [Int]) async -> Figures {
        var figures = Figures()
        let clock = ContinuousClock()
        var remaining = lookups
        while remaining > 0 {
            let batch = min(remaining, concurrency)
            remaining -= batch
            await withTaskGroup(of: (Bool, Int?, Int, Double).self) { group in
                for _ in 0..<batch {
                    let asker = network[live.randomElement()!]
                    var target = network[live.randomElement()!]
                    while target === asker { target = network[live.randomElement()!] }
                    let targetPeer = target.localPeer
                    group.addTask {
                        let start = clock.now
                        let result = await asker.findNode(DHTKey(peer: targetPeer))
                        let found = result.closest.contains { $0.peer == targetPeer }
                        return (found, result.hops, result.messages, (clock.now - start).seconds)
                    }
                }
                for await (found, hops, messages, seconds) in group {
                    if found { figures.success += 1 }
                    if let hops, found { figures.hops.append(hops) }
                    figures.messages.append(messages)
                    figures.seconds.append(seconds)
                }
            }
        }
        return figures
    }

    private static func percentile<T: Comparable & Numeric>(_ values: [T], _ p: Double) -> T {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded(.up)))]
    }

    private func progress(_ line: String) {
        guard isatty(STDERR_FILENO) == 1 else { return }
        FileHandle.standardError.write(Data(("\r\u{1b}[K" + line).utf8))
    }
}
