import Foundation
import Testing

/// Two `threadsd` processes on loopback, driven through `threads swarm …`.
@Suite struct DaemonTests {
    final class Daemon: @unchecked Sendable {
        let repo = FileManager.default.temporaryDirectory.appendingPathComponent("threadsd-\(UUID().uuidString)").path
        let process = Process()
        let output = Pipe()
        var banner: [String] = []

        /// Starts the daemon and reads its banner up to the first "Listening on" line.
        func start() throws {
            process.executableURL = CLIRunner.executable.deletingLastPathComponent().appendingPathComponent("threadsd")
            process.arguments = ["--repo", repo, "--listen", "/ip4/127.0.0.1/tcp/0"]
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            var text = ""
            while !text.contains("Listening on") {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            banner = text.split(separator: "\n").map(String.init)
        }

        var address: String? {
            banner.first { $0.hasPrefix("Listening on ") }.map { String($0.dropFirst("Listening on ".count)) }
        }

        var peerID: String? {
            banner.first { $0.hasPrefix("Welcome to Threads! Your peer ID is ") }
                .map { String($0.dropFirst("Welcome to Threads! Your peer ID is ".count)) }
        }

        /// Sends SIGTERM and waits; returns the exit status.
        func stop() -> Int32 {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            return process.terminationStatus
        }

        deinit {
            if process.isRunning { process.interrupt() }
            try? FileManager.default.removeItem(atPath: repo)
        }
    }

    @Test func daemonsConnectThroughTheSwarmCommands() async throws {
        let a = Daemon()
        let b = Daemon()
        try await CLIRunner.blocking { try a.start() }
        try await CLIRunner.blocking { try b.start() }
        let aPeer = try #require(a.peerID)
        let bPeer = try #require(b.peerID)
        let bAddress = try #require(b.address)
        #expect(bAddress.hasSuffix("/p2p/\(bPeer)"))
        #expect(FileManager.default.fileExists(atPath: a.repo + "/control.json"))

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

        #expect(await CLIRunner.blockingValue { a.stop() } == 0)
        #expect(await CLIRunner.blockingValue { b.stop() } == 0)
        #expect(!FileManager.default.fileExists(atPath: a.repo + "/control.json"))
        let after = try await CLIRunner.run(["swarm", "peers", "--repo", a.repo])
        #expect(after.status != 0)
        #expect(after.stderr.contains("no threadsd is running"))
    }
}
