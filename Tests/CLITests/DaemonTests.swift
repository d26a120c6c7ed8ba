import Foundation
import Testing
import ThreadsTestKit

/// Two `threadsd` processes on loopback, driven through `threads swarm …`.
@Suite(.timeLimit(.minutes(5))) struct DaemonTests {
    final class Daemon: @unchecked Sendable {
        let repo: String
        private let ownsRepo: Bool

        init(repo: String? = nil) {
            self.repo =
                repo
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("threadsd-\(UUID().uuidString)").path
            ownsRepo = repo == nil
        }

        let process = Process()
        let output = TestKit.pipe()
        /// Everything the daemon has printed so far, as read.
        private var printed = ""
        /// What it printed, by line.
        var banner: [String] { printed.split(separator: "\n").map(String.init) }

        /// Starts the daemon and reads its banner up to the DHT's "Listening on …/udp/…" line.
        func start(_ extra: [String] = []) throws {
            process.executableURL = CLIRunner.executable.deletingLastPathComponent().appendingPathComponent("threadsd")
            process.arguments =
                ["--repo", repo, "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "/ip4/127.0.0.1/tcp/0"] + extra
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            read(until: { $0.contains("/udp/") })
        }

        /// Reads output until `done` holds for all of it, the daemon exits, or `limit` passes
        /// (generous: only a hang reaches it, and then the test fails instead of waiting for good).
        private func read(until done: (String) -> Bool, limit: Duration = .seconds(90)) {
            let deadline = ContinuousClock.now + limit
            while !done(printed), ContinuousClock.now < deadline {
                switch TestKit.read(output, waiting: 200) {
                case .bytes(let bytes): printed += String(decoding: bytes, as: UTF8.self)
                case .nothing: continue
                case .end: return
                }
            }
        }

        var address: String? {
            banner.first { $0.hasPrefix("Listening on ") }.map { String($0.dropFirst("Listening on ".count)) }
        }

        var udpAddress: String? {
            banner.first { $0.hasPrefix("Listening on ") && $0.contains("/udp/") }
                .map { String($0.dropFirst("Listening on ".count)) }
        }

        /// The daemon's line on joining the DHT ("DHT: reached n of m bootstrap peers"), once it
        /// is printed whole; nil if it is not (the daemon exited, or the wait ran out).
        func bootstrapResult() -> String? {
            let prefix = "DHT: reached "
            // Whole lines only: the last piece, after the last newline, may be half a line.
            read(until: { text in
                text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().contains {
                    $0.hasPrefix(prefix)
                }
            })
            return banner.first { $0.hasPrefix(prefix) }
        }

        var peerID: String? {
            banner.first { $0.hasPrefix("Welcome to Threads! Your peer ID is ") }
                .map { String($0.dropFirst("Welcome to Threads! Your peer ID is ".count)) }
        }

        /// Sends SIGTERM and waits; returns the exit status. A daemon that has not exited after a
        /// minute is killed, and the status says so (SIGKILL's 9), so the test fails rather than
        /// hangs.
        func stop() -> Int32 {
            if process.isRunning {
                process.terminate()
                let deadline = ContinuousClock.now + .seconds(60)
                while process.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                }
            }
            return process.terminationStatus
        }

        deinit {
            if process.isRunning { process.interrupt() }
            if ownsRepo { try? FileManager.default.removeItem(atPath: repo) }
        }
    }

    /// Runs `threadsd` on a fresh repo with `flags`, for a start that is expected to fail: waits
    /// for it to exit and returns its status and what it printed on stderr.
    static func runToExit(_ flags: [String]) async throws -> (status: Int32, stderr: String) {
        let repo = FileManager.default.temporaryDirectory.appendingPathComponent("threadsd-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: repo) }
        let process = Process()
        process.executableURL = CLIRunner.executable.deletingLastPathComponent().appendingPathComponent("threadsd")
        process.arguments = ["--repo", repo] + flags
        let errors = TestKit.pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = await TestKit.offPool {
            TestKit.waitForExit(process)
            return String(decoding: TestKit.drain(errors, whileRunning: process), as: UTF8.self)
        }
        return (process.terminationStatus, text)
    }

    @Test func daemonsConnectThroughTheSwarmCommands() async throws {
        let a = Daemon()
        let b = Daemon()
        try await TestKit.offPool { try a.start() }
        try await TestKit.offPool { try b.start() }
        let aPeer = try #require(a.peerID)
        let bPeer = try #require(b.peerID)
        let bAddress = try #require(b.address)
        #expect(bAddress.hasSuffix("/p2p/\(bPeer)"))
        #expect(FileManager.default.fileExists(atPath: a.repo + "/api"))

        let empty = try await CLIRunner.run(["swarm", "peers", "--repo", a.repo])
        #expect(empty.trimmedStdout == "[]", "\(empty.stderr)")
        let connect = try await CLIRunner.run(["swarm", "connect", bAddress, "--repo", a.repo])
        #expect(connect.status == 0, "\(connect.stderr)")
        #expect(connect.trimmedStdout == "connected to \(bPeer)")

        let fromA = try await CLIRunner.run(["swarm", "peers", "--repo", a.repo])
        let listA = try JSONSerialization.jsonObject(with: Data(fromA.stdout.utf8)) as? [[String: Any]]
        #expect(listA?.first?["peerID"] as? String == bPeer)
        #expect(listA?.first?["address"] as? String == bAddress)
        let fromB = try await CLIRunner.run(["swarm", "peers", "--repo", b.repo])
        let listB = try JSONSerialization.jsonObject(with: Data(fromB.stdout.utf8)) as? [[String: Any]]
        #expect(listB?.first?["peerID"] as? String == aPeer)

        // A bad address is a one-line error from the daemon, and the daemon keeps running.
        let bad = try await CLIRunner.run(["swarm", "connect", "/ip4/127.0.0.1/tcp/1", "--repo", a.repo])
        #expect(bad.status != 0)
        #expect(bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")

        #expect(await TestKit.offPool { a.stop() } == 0)
        #expect(await TestKit.offPool { b.stop() } == 0)
        #expect(!FileManager.default.fileExists(atPath: a.repo + "/api"))
        let after = try await CLIRunner.run(["swarm", "peers", "--repo", a.repo])
        #expect(after.status != 0)
        #expect(after.stderr.contains("no threadsd is running"))
    }

    @Test func daemonsFindEachOtherThroughTheDHT() async throws {
        let a = Daemon()
        let b = Daemon()
        let c = Daemon()
        try await TestKit.offPool { try a.start() }
        let aAddress = try #require(a.address)
        let aUDP = try #require(a.udpAddress)
        // The DHT binds UDP on the TCP port number, and the banner says so.
        let tcpPort = aAddress.split(separator: "/")[3]
        #expect(aUDP.split(separator: "/")[3] == tcpPort, "\(a.banner)")
        #expect(aUDP.hasSuffix("/p2p/\(try #require(a.peerID))"))

        // b joins through a's TCP address (as an invite gives it), c through a's UDP one.
        try await TestKit.offPool { try b.start(["--bootstrap", aAddress]) }
        try await TestKit.offPool { try c.start(["--bootstrap", aUDP]) }
        #expect(
            await TestKit.offPool { b.bootstrapResult() == "DHT: reached 1 of 1 bootstrap peers" },
            "\(b.banner)"
        )
        #expect(
            await TestKit.offPool { c.bootstrapResult() == "DHT: reached 1 of 1 bootstrap peers" },
            "\(c.banner)"
        )
        let bPeer = try #require(b.peerID)
        let cPeer = try #require(c.peerID)

        let table = try await CLIRunner.run(["dht", "table", "--repo", a.repo])
        #expect(table.status == 0, "\(table.stderr)")
        let tableJSON = try #require(try JSONSerialization.jsonObject(with: Data(table.stdout.utf8)) as? [String: Any])
        #expect(tableJSON["size"] as? Int == 2, "\(table.stdout)")
        #expect(tableJSON["peerID"] as? String == a.peerID)

        // c finds b's addresses though it never talked to b: the DHT holds b's peer record.
        let found = try await CLIRunner.run(["dht", "find-peer", bPeer, "--repo", c.repo])
        #expect(found.status == 0, "\(found.stderr)")
        let bTCP = try #require(b.address)
        #expect(found.stdout.split(separator: "\n").map(String.init).contains(bTCP), "\(found.stdout)")

        // Provider records: b announces, a and c find b.
        let cid = "bafkreidon73zkcrwdb5iafqtijxildoonbwnpv7dyd6ef3qdgads2jc4su"
        let provide = try await CLIRunner.run(["dht", "provide", cid, "--repo", b.repo])
        #expect(provide.status == 0, "\(provide.stderr)")
        #expect(provide.trimmedStdout == "announced \(cid) to 2 DHT nodes")
        for asker in [a, c] {
            let providers = try await CLIRunner.run(["dht", "providers", cid, "--repo", asker.repo])
            let list = try JSONSerialization.jsonObject(with: Data(providers.stdout.utf8)) as? [[String: Any]]
            #expect(list?.map { $0["peerID"] as? String } == [bPeer], "\(providers.stdout) \(providers.stderr)")
        }

        // c dials b knowing only its peer ID: the address comes from peer routing.
        let connect = try await CLIRunner.run(["swarm", "connect", bPeer, "--repo", c.repo])
        #expect(connect.status == 0, "\(connect.stderr)")
        #expect(connect.trimmedStdout == "connected to \(bPeer)")
        let peers = try await CLIRunner.run(["swarm", "peers", "--repo", b.repo])
        #expect(peers.stdout.contains(cPeer))

        // Clear errors for bad input; the daemon keeps running.
        let badCID = try await CLIRunner.run(["dht", "providers", "not-a-cid", "--repo", a.repo])
        #expect(badCID.status != 0)
        #expect(badCID.stderr.contains("is not a CID"))
        let unknown = try await CLIRunner.run([
            "dht", "find-peer", "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA", "--repo", a.repo,
        ])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no peer record found"))

        for daemon in [a, b, c] { #expect(await TestKit.offPool { daemon.stop() } == 0) }
    }

    @Test func bootstrapThroughATCPAddressFindsADHTOnAnotherPort() async throws {
        let a = Daemon()
        let b = Daemon()
        // a's DHT is told to use its own UDP port, so the TCP port number does not lead to it.
        try await TestKit.offPool { try a.start(["--listen", "/ip4/127.0.0.1/udp/0"]) }
        let aAddress = try #require(a.address)
        let aUDP = try #require(a.udpAddress)
        try await TestKit.offPool { try b.start(["--bootstrap", aAddress]) }
        #expect(
            await TestKit.offPool { b.bootstrapResult() == "DHT: reached 1 of 1 bootstrap peers" },
            "\(b.banner) \(aUDP)"
        )
        let table = try await CLIRunner.run(["dht", "table", "--repo", b.repo])
        #expect(table.stdout.contains("\"size\": 1"), "\(table.stdout)")
        for daemon in [a, b] { #expect(await TestKit.offPool { daemon.stop() } == 0) }
    }

    /// A second daemon given ports that another one holds (as two started with the defaults
    /// would be) stops at once, naming the address and what to do, not the bind call's errno.
    @Test func aPortInUseIsNamedWithWhatToDo() async throws {
        let a = Daemon()
        try await TestKit.offPool { try a.start() }
        let peers = try #require(a.address?.components(separatedBy: "/p2p/").first)
        let url = try String(contentsOfFile: a.repo + "/api", encoding: .utf8)
        let apiPort = try #require(url.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").last)
        let api = "/ip4/127.0.0.1/tcp/\(apiPort)"
        let dht = try #require(a.udpAddress?.components(separatedBy: "/p2p/").first)
        for (flags, expected) in [
            (
                ["--listen", "/ip4/127.0.0.1/tcp/0", "--listen", dht, "--api", "/ip4/127.0.0.1/tcp/0"],
                "cannot listen on \(dht): the address is in use"
            ),
            (["--listen", peers, "--api", "/ip4/127.0.0.1/tcp/0"], "cannot listen on \(peers): the address is in use"),
            (
                ["--listen", "/ip4/127.0.0.1/tcp/0", "--api", api],
                "cannot serve the API on \(api): the address is in use"
            ),
        ] {
            let (status, text) = try await Self.runToExit(flags)
            #expect(status != 0)
            #expect(text.contains(expected), "\(text)")
            #expect(!text.contains("errno"), "\(text)")
        }
        #expect(await TestKit.offPool { a.stop() } == 0)
    }
}
