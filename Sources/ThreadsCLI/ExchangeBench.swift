import ArgumentParser
import Foundation
import Multiformats
import Node
import Sodium

/// `threads bench exchange`: a random file fetched by a fresh `threadsd` from one provider and
/// from several, next to a raw TCP transfer of the same bytes between the same hosts in the same
/// run; with the duplicate-block ratio and the fetcher's peak RSS.
struct ExchangeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exchange",
        abstract: "File fetch throughput vs raw TCP, duplicate blocks and fetcher peak RSS.",
        discussion: """
            Runs real threadsd processes. --netns puts each node on its own host (a network \
            namespace made with testnet/netns, joined by a bridge; needs root), otherwise all run on \
            127.0.0.1. The raw TCP baseline is a plain socket transfer between the fetcher's host and \
            the first provider's.
            """
    )

    @Option(help: "Size of the random file, in MiB.")
    var mebibytes: Int = 256

    @Option(help: "Providers for the many-provider run.")
    var providers: Int = 4

    @Flag(help: "Run each node in its own network namespace (needs root and testnet/netns).")
    var netns = false

    @Option(
        help: "Path of testnet/netns (default: testnet/netns under the working directory or above the executable)."
    )
    var netnsScript: String?

    func validate() throws {
        guard mebibytes > 0, providers >= 1, providers <= 8 else {
            throw ValidationError("need --mebibytes > 0 and 1...8 providers")
        }
    }

    struct Host {
        let namespace: String?
        let ip: String

        func process(_ executable: String, _ arguments: [String]) -> Process {
            let process = Process()
            if let namespace {
                process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
                process.arguments = ["netns", "exec", namespace, executable] + arguments
            } else {
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments
            }
            return process
        }
    }

    final class Daemon {
        let repo: String
        let process: Process
        var address = ""

        let host: Host

        init(host: Host, work: String, name: String, daemon: String) throws {
            self.host = host
            repo = work + "/" + name
            process = host.process(
                daemon,
                ["--repo", repo, "--listen", "/ip4/\(host.ip)/tcp/0", "--api", "/ip4/127.0.0.1/tcp/0"]
            )
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            var text = ""
            while !text.contains("/udp/") {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { throw CLIError("threadsd \(name) exited during start-up: \(text)") }
                text += String(decoding: chunk, as: UTF8.self)
            }
            address =
                text.split(separator: "\n").first { $0.hasPrefix("Listening on ") && $0.contains("/tcp/") }
                .map { String($0.dropFirst("Listening on ".count)) } ?? ""
        }

        func call(_ request: [String: Any]) async throws -> [String: Any] {
            var request = request
            let command = request["command"] as? String ?? ""
            request["command"] = nil
            guard let namespace = host.namespace else {
                let context = try APIContext.resolve(repo: repo)
                return (try await context.call(command, request)) as? [String: Any] ?? [:]
            }
            // The daemon's API listens on the loopback of its namespace: ask from inside it.
            let fields = String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = [
                "netns", "exec", namespace, CommandLine.executablePath.path, "debug", "call", command, fields, "--repo",
                repo,
            ]
            let output = Pipe()
            let errors = Pipe()
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            let data = await CLIRunnerless.readAll(output)
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw CLIError(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
            }
            return (try JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        }

        func stop() {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
    }

    func run() async throws {
        let size = mebibytes << 20
        let binDirectory = CommandLine.executablePath.deletingLastPathComponent()
        let threads = CommandLine.executablePath.path
        let daemonPath = binDirectory.appendingPathComponent("threadsd").path
        guard FileManager.default.isExecutableFile(atPath: daemonPath) else {
            throw CLIError("threadsd not found next to threads")
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("bench-exchange-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let prefix = "tbx\(Int.random(in: 10...99))"
        var hosts: [Host] = []
        var netnsPath = ""
        if netns {
            guard getuid() == 0 else { throw CLIError("--netns needs root") }
            netnsPath = try Self.findNetnsScript(netnsScript)
            try Self.shell(netnsPath, ["up", prefix, "\(providers + 1)"])
            hosts = (1...(providers + 1)).map { Host(namespace: "\(prefix)-h\($0)", ip: "10.77.0.\($0)") }
        } else {
            hosts = Array(repeating: Host(namespace: nil, ip: "127.0.0.1"), count: providers + 1)
        }
        var daemons: [Daemon] = []
        defer {
            for daemon in daemons { daemon.stop() }
            if netns { try? Self.shell(netnsPath, ["down", prefix]) }
            try? FileManager.default.removeItem(atPath: work)
        }

        print(
            "threads bench exchange: \(mebibytes) MiB random file, \(netns ? "one network namespace per node (veth + bridge)" : "all nodes on 127.0.0.1")"
        )
        let file = work + "/input"
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        for _ in 0..<mebibytes { try handle.write(contentsOf: Random.bytes(count: 1 << 20)) }
        try handle.close()

        // Both ends of the raw transfer, kernel time included: TCP's own CPU per byte. A transfer
        // of 64 KiB first gives what the two processes cost to start and stop, taken off.
        let small = 64 << 10
        var childCPU = CPUTime.children
        _ = try rawTCP(bytes: small, from: hosts[1], to: hosts[0], threads: threads)
        let overhead = CPUTime.children.seconds(since: childCPU)
        childCPU = CPUTime.children
        let raw = try rawTCP(bytes: size, from: hosts[1], to: hosts[0], threads: threads)
        let tcpPerByte = max(0, CPUTime.children.seconds(since: childCPU) - overhead) / Double(size - small)
        let floor = try ExchangeCeiling.measure(bytes: size, directory: work)
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        let ceiling = floor.ceiling(tcp: tcpPerByte, cores: cores) / 1e6

        for index in 1...providers {
            let provider = try Daemon(host: hosts[index], work: work, name: "provider\(index)", daemon: daemonPath)
            daemons.append(provider)
            _ = try await provider.call(["command": "add.path", "path": file])
        }
        let root = try await daemons[0].call(["command": "add.path", "path": file])["cid"] as? String ?? ""

        var table = BenchTable(header: ["fetch", "MB/s", "vs raw TCP", "duplicates", "fetcher peak RSS (anonymous)"])
        table.add("raw TCP (same hosts, plain socket)", formatRate(raw), formatPercent(1), "-", "-")
        for count in Set([1, providers]).sorted() {
            let fetcher = try Daemon(host: hosts[0], work: work, name: "fetcher\(count)", daemon: daemonPath)
            daemons.append(fetcher)
            for provider in daemons.prefix(count) {
                _ = try await fetcher.call(["command": "swarm.connect", "address": provider.address])
            }
            let output = work + "/output\(count)"
            let pid = Int(try await fetcher.call(["command": "exchange.stats"])["pid"] as? Int ?? 0)
            let sampler = RSSSampler(pid: pid)
            let result = try await fetcher.call(["command": "get.save", "cid": root, "output": output])
            let (anonymous, total) = await sampler.stop()
            let seconds = (result["fetchSeconds"] as? Double) ?? .infinity
            let stats = try await fetcher.call(["command": "exchange.stats"])
            let duplicates = stats["duplicateBlocks"] as? Int ?? -1
            let blocks = (size + (256 << 10) - 1) / (256 << 10)
            guard try Self.sameContents(file, output) else { throw CLIError("the fetched file differs from the input") }
            try? FileManager.default.removeItem(atPath: output)
            let rate = Double(size) / seconds / 1e6
            table.add(
                "threads get from \(count) provider\(count == 1 ? "" : "s")",
                formatRate(rate),
                formatPercent(rate / raw),
                "\(duplicates) (\(formatPercent(Double(duplicates) / Double(blocks))))",
                "\(ProgressBar.size(anonymous)) (\(ProgressBar.size(total)) in all, with mapped files)"
            )
            fetcher.stop()
        }
        table.add(
            "ceiling for any exchange here (below)",
            formatRate(ceiling),
            formatPercent(ceiling / raw),
            "-",
            "-"
        )
        print(table.render())
        print("")
        print(
            "targets: ≥ 25 % of raw TCP from one provider; duplicates ≤ 1 % with \(providers) providers; peak RSS ≤ 200 MiB"
        )
        print("")
        func perGB(_ perByte: Double) -> String { formatRate(perByte * 1e9, decimals: 2) + " s" }
        print(
            "Ceiling: every byte is read from the provider's LevelDB (\(perGB(floor.read)) of CPU per GB here), sealed"
        )
        print(
            "(\(perGB(1 / floor.cipher.bestSeal)), the faster of libsodium and swift-crypto), sent over TCP (\(perGB(tcpPerByte)), both ends of the raw run),"
        )
        print(
            "opened (\(perGB(1 / floor.cipher.bestOpen))), hashed against its CID (\(perGB(floor.hash))) and written to the fetcher's LevelDB, compactions"
        )
        print(
            "included (\(perGB(floor.store))). All nodes share this machine's \(Int(cores)) cores: \(Int(cores)) / \(perGB(tcpPerByte + floor.perByte)) per GB ="
        )
        print(
            "\(formatRate(ceiling)) MB/s, \(formatPercent(ceiling / raw)) of raw TCP, with no overhead at all. Each part was measured alone, in cache."
        )
    }

    /// Plain TCP from `source` to `sink`, as two processes; returns MB/s measured by the receiver.
    private func rawTCP(bytes: Int, from source: Host, to sink: Host, threads: String) throws -> Double {
        let receiver = sink.process(threads, ["debug", "tcp-sink", "--host", sink.ip, "--bytes", "\(bytes)"])
        let output = Pipe()
        receiver.standardOutput = output
        try receiver.run()
        var text = ""
        while !text.contains("\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard
            let port = text.split(separator: " ").last.flatMap({
                UInt16($0.trimmingCharacters(in: .whitespacesAndNewlines))
            })
        else { throw CLIError("tcp-sink did not start: \(text)") }
        let sender = source.process(
            threads,
            ["debug", "tcp-source", "--host", sink.ip, "--port", "\(port)", "--bytes", "\(bytes)"]
        )
        try sender.run()
        sender.waitUntilExit()
        receiver.waitUntilExit()
        let rest = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard
            let seconds = rest.split(separator: " ").last.flatMap({
                Double($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }),
            seconds > 0
        else { throw CLIError("tcp-sink gave no figure: \(rest)") }
        return Double(bytes) / seconds / 1e6
    }

    static func sameContents(_ a: String, _ b: String) throws -> Bool {
        let left = try Data(contentsOf: URL(fileURLWithPath: a), options: .alwaysMapped)
        let right = try Data(contentsOf: URL(fileURLWithPath: b), options: .alwaysMapped)
        return left == right
    }

    /// The testnet script: the one given, else `testnet/netns` under the working directory or under
    /// a directory above the executable (a build inside the source tree).
    static func findNetnsScript(_ given: String?) throws -> String {
        let files = FileManager.default
        if let given {
            guard files.fileExists(atPath: given) else { throw CLIError("--netns-script \(given): no such file") }
            return given
        }
        var candidates = [files.currentDirectoryPath + "/testnet/netns"]
        var directory = CommandLine.executablePath.deletingLastPathComponent()
        while directory.path != "/" {
            candidates.append(directory.appendingPathComponent("testnet/netns").path)
            directory = directory.deletingLastPathComponent()
        }
        guard let found = candidates.first(where: { files.fileExists(atPath: $0) }) else {
            throw CLIError(
                "--netns needs testnet/netns from the swift-threads source tree: run from the repository root or pass --netns-script PATH"
            )
        }
        return found
    }

    static func shell(_ script: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script] + arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLIError("\(script) \(arguments.joined(separator: " ")) failed")
        }
    }
}

extension CommandLine {
    /// The running executable, resolved through /proc on Linux.
    static var executablePath: URL {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
        return URL(fileURLWithPath: path)
    }
}

/// Reads a pipe to its end on a Dispatch thread, off the concurrency pool.
enum CLIRunnerless {
    static func readAll(_ pipe: Pipe) async -> Data {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: pipe.fileHandleForReading.readDataToEndOfFile())
            }
        }
    }
}
