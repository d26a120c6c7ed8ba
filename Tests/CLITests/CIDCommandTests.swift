import Crypto
import Foundation
import Testing

/// The `threads cid` contract, checked on CIDs taken from the IPLD codec fixtures (not written here).
@Suite(.timeLimit(.minutes(5))) struct CIDCommandTests {
    /// `<CID>.<codec>` files of ipld/codec-fixtures: the name is the CID of the file's bytes.
    static func fixtureFiles() throws -> [(cid: String, codec: String, url: URL)] {
        let root = CLIRunner.fixtures.appendingPathComponent("codec-fixtures/fixtures")
        let dirs = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        var files: [(String, String, URL)] = []
        for dir in dirs {
            let url = root.appendingPathComponent(dir)
            for name in try FileManager.default.contentsOfDirectory(atPath: url.path).sorted() {
                let parts = name.split(separator: ".", maxSplits: 1)
                guard parts.count == 2, ["dag-cbor", "dag-json"].contains(String(parts[1])) else { continue }
                files.append((String(parts[0]), String(parts[1]), url.appendingPathComponent(name)))
            }
        }
        return files
    }

    @Test func inspectMatchesFixtureNamesAndContent() async throws {
        let files = try Self.fixtureFiles()
        try #require(files.count > 50, "codec fixtures missing under Tests/Fixtures/codec-fixtures")
        // Every 7th file keeps the number of processes spawned modest.
        for (index, file) in files.enumerated() where index % 7 == 0 {
            let result = try await CLIRunner.run(["cid", "inspect", file.cid])
            #expect(result.status == 0, "\(file.cid): \(result.stderr)")
            let json = try result.json()
            let bytes = try Data(contentsOf: file.url)
            let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            #expect(json["version"] as? Int == 1)
            #expect(json["codec"] as? String == file.codec)
            #expect(json["codecCode"] as? Int == (file.codec == "dag-cbor" ? 0x71 : 0x0129))
            #expect(json["hash"] as? String == "sha2-256")
            #expect(json["hashCode"] as? Int == 0x12)
            #expect(json["digest"] as? String == digest)
            #expect(json["base32"] as? String == file.cid)
            let base58 = try #require(json["base58btc"] as? String)
            #expect(base58.hasPrefix("z"))
            // The base58btc form names the same CID.
            let back = try await CLIRunner.run(["cid", "format", base58, "--base", "base32"])
            #expect(back.trimmedStdout == file.cid)
        }
    }

    @Test func inspectV0ShowsItsV1Equivalent() async throws {
        // The CIDv0 / CIDv1 pair from the multiformats CID documentation.
        let result = try await CLIRunner.run(["cid", "inspect", "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try result.json()
        #expect(json["version"] as? Int == 0)
        #expect(json["codec"] as? String == "dag-pb")
        #expect(json["codecCode"] as? Int == 0x70)
        #expect(json["base32"] as? String == "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
        #expect(json["base58btc"] as? String == "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n")
    }

    @Test(arguments: ["base32", "base58btc", "base36", "base16", "base64"])
    func formatRoundTripsThroughEveryBase(base: String) async throws {
        let cid = "bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae"
        let formatted = try await CLIRunner.run(["cid", "format", cid, "--base", base])
        #expect(formatted.status == 0, "\(formatted.stderr)")
        let prefix: Character = ["base32": "b", "base58btc": "z", "base36": "k", "base16": "f", "base64": "m"][base]!
        #expect(formatted.trimmedStdout.first == prefix)
        let back = try await CLIRunner.run(["cid", "format", formatted.trimmedStdout, "--base", "base32"])
        #expect(back.trimmedStdout == cid)
    }

    @Test func formatV0NeedsV1Flag() async throws {
        let v0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"
        let refused = try await CLIRunner.run(["cid", "format", v0, "--base", "base32"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--v1"))
        let converted = try await CLIRunner.run(["cid", "format", v0, "--base", "base32", "--v1"])
        #expect(converted.trimmedStdout == "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    }

    @Test(arguments: [
        "", "bafy", "Qm", "zzzz", "b!!!!", "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1", "f0171",
        "bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfva", "x1234", "k2",
    ])
    func malformedCIDsFailWithOneLine(input: String) async throws {
        let result = try await CLIRunner.run(["cid", "inspect", input])
        #expect(!result.crashed)
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
    }
}
