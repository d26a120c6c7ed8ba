import Foundation
import Testing
import ThreadsTestKit

/// `threads add`, `get` and `cat`, with and without daemons.
@Suite(.timeLimit(.minutes(5))) struct FileCommandTests {
    static func randomFile(_ size: Int) throws -> (path: String, bytes: [UInt8]) {
        var bytes = [UInt8](repeating: 0, count: size)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("file-\(UUID().uuidString)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (path, bytes)
    }

    @Test func aFileAddedOnOneDaemonIsFetchedByAnotherThroughTheDHT() async throws {
        let a = DaemonTests.Daemon()
        let b = DaemonTests.Daemon()
        try await TestKit.offPool { try a.start() }
        let aAddress = try #require(a.address)
        try await TestKit.offPool { try b.start(["--bootstrap", aAddress]) }
        #expect(await TestKit.offPool { b.bootstrapResult() == "DHT: reached 1 of 1 bootstrap peers" })
        let (path, bytes) = try Self.randomFile(1_500_000)
        defer { try? FileManager.default.removeItem(atPath: path) }

        let add = try await CLIRunner.run(["add", path, "--chunk-size", "65536", "--repo", a.repo])
        #expect(add.status == 0, "\(add.stderr)")
        let cid = add.trimmedStdout
        #expect(cid.hasPrefix("bafy"), "\(add.stdout)")
        // b knows a only through the DHT: the provider record leads it to a.
        let out = b.repo + "-fetched"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let get = try await CLIRunner.run(["get", cid, "-o", out, "--repo", b.repo])
        #expect(get.status == 0, "\(get.stderr)")
        #expect(FileManager.default.contents(atPath: out) == Data(bytes))
        #expect(!get.stderr.contains("\r"), "no progress bar when stderr is not a terminal")
        let cat = try await CLIRunner.run(["cat", cid, "--repo", b.repo])
        #expect(cat.status == 0, "\(cat.stderr)")
        #expect(cat.stdoutBytes == bytes)

        // Standard input works too, and gives the same root for the same bytes.
        let again = try await CLIRunner.run(["add", "-", "--chunk-size", "65536", "--repo", b.repo], stdin: bytes)
        #expect(again.trimmedStdout == cid, "\(again.stderr)")

        let bad = try await CLIRunner.run(["get", "not-a-cid", "--repo", b.repo])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("is not a CID"))
        for daemon in [a, b] { #expect(await TestKit.offPool { daemon.stop() } == 0) }
    }

    @Test func withoutADaemonFilesAreAddedAndReadLocally() async throws {
        let repo = FileManager.default.temporaryDirectory.appendingPathComponent("repo-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: repo) }
        #expect(try await CLIRunner.run(["init", "--repo", repo]).status == 0)
        let (path, bytes) = try Self.randomFile(300_000)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let add = try await CLIRunner.run(["add", path, "--repo", repo])
        #expect(add.status == 0, "\(add.stderr)")
        #expect(add.stderr.contains("not announced"))
        let cat = try await CLIRunner.run(["cat", add.trimmedStdout, "--repo", repo])
        #expect(cat.stdoutBytes == bytes, "\(cat.stderr)")
        let missing = try await CLIRunner.run(
            ["cat", "bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "--repo", repo]
        )
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("not in the local repo"), "\(missing.stderr)")
        let empty = try await CLIRunner.run(["add", "-", "--repo", repo], stdin: [])
        #expect(empty.status == 0)
        let emptyCat = try await CLIRunner.run(["cat", empty.trimmedStdout, "--repo", repo])
        #expect(emptyCat.status == 0)
        #expect(emptyCat.stdoutBytes.isEmpty)
    }
}
