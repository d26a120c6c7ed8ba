import Foundation
import Multiformats
import Node
import Store
import Testing
import ThreadsTestKit

/// A writer process is killed with SIGKILL at random moments; every block it acknowledged must be
/// present and intact afterwards, and the repo must open cleanly every time.
@Suite(.timeLimit(.minutes(5))) struct CrashSafetyTests {
    @Test func acknowledgedBlocksSurviveSIGKILL() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("threads-crash-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let initResult = try await CLIRunner.run(["init", "--repo", dir])
        try #require(initResult.status == 0, "\(initResult.stderr)")

        // The kill loop blocks on pipes; it runs on a Dispatch thread, off the concurrency pool.
        let total = try await TestKit.offPool { try Self.killLoop(dir: dir) }
        #expect(total > 0)
    }

    static func killLoop(dir: String) throws -> Int {
        var rng = SystemRandomNumberGenerator()
        var acknowledged: [CID] = []
        let rounds = 25
        for round in 0..<rounds {
            let process = Process()
            process.executableURL = CLIRunner.executable
            process.arguments = [
                "debug", "write-blocks", "--repo", dir, "--seed", String(round + 1), "--max-size", "32768",
            ]
            let output = TestKit.pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()

            // Let it acknowledge a random number of writes, then kill it after a random extra delay so
            // the kill lands at arbitrary points inside LevelDB's write path.
            let wanted = Int.random(in: 0...30, using: &rng)
            var buffer = [UInt8]()
            let reader = output.fileHandleForReading
            while buffer.filter({ $0 == 0x0a }).count < wanted {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(contentsOf: chunk)
            }
            usleep(UInt32.random(in: 0...4000, using: &rng))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            buffer.append(contentsOf: TestKit.drain(output, whileRunning: process))
            #expect(process.terminationReason == .uncaughtSignal, "round \(round): writer exited on its own")

            // Only complete lines are acknowledgements; a torn last line was never fully printed.
            let text = String(decoding: buffer, as: UTF8.self)
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            lines.removeLast()
            for line in lines where line.hasPrefix("ack ") {
                acknowledged.append(try CID(String(line.dropFirst(4))))
            }

            let repo = try Repo.open(at: dir)
            for cid in acknowledged {
                let bytes = try repo.blockstore.get(cid, verify: true)
                #expect(bytes != nil, "round \(round): acknowledged block \(cid) is missing")
            }
        }
        return acknowledged.count
    }
}
