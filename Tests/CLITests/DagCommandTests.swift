import Foundation
import Testing

/// `threads dag put --only-hash` on the IPLD codec fixtures: the printed CID must be the file's name.
@Suite(.timeLimit(.minutes(5))) struct DagCommandTests {
    @Test func putOnlyHashReproducesFixtureCIDs() async throws {
        let files = try CIDCommandTests.fixtureFiles()
        try #require(files.count > 50)
        for (index, file) in files.enumerated() where index % 5 == 0 {
            let bytes = [UInt8](try Data(contentsOf: file.url))
            let result = try await CLIRunner.run(
                ["dag", "put", "--input-codec", file.codec, "--store-codec", file.codec, "--only-hash"],
                stdin: bytes
            )
            #expect(result.status == 0, "\(file.url.lastPathComponent): \(result.stderr)")
            #expect(result.trimmedStdout == file.cid, "\(file.url.lastPathComponent)")
        }
    }

    @Test func crossCodecPutMatchesTheOtherFixture() async throws {
        // Fixture directories hold the same node in both codecs: JSON in, CBOR CID out.
        let files = try CIDCommandTests.fixtureFiles()
        let byDir = Dictionary(grouping: files) { $0.url.deletingLastPathComponent().lastPathComponent }
        var checked = 0
        for (_, group) in byDir.sorted(by: { $0.key < $1.key }) {
            guard let json = group.first(where: { $0.codec == "dag-json" }),
                let cbor = group.first(where: { $0.codec == "dag-cbor" })
            else { continue }
            let result = try await CLIRunner.run(
                ["dag", "put", "--input-codec", "dag-json", "--store-codec", "dag-cbor", "--only-hash"],
                stdin: [UInt8](try Data(contentsOf: json.url))
            )
            #expect(result.trimmedStdout == cbor.cid, "\(json.url.path): \(result.stderr)")
            checked += 1
            if checked >= 12 { break }
        }
        #expect(checked >= 12)
    }

    @Test(arguments: [
        ("{", "dag-json"), ("{\"a\":}", "dag-json"), ("[1,2", "dag-json"), ("{\"/\":\"notacid\"}", "dag-json"),
        ("\u{a1}", "dag-cbor"), ("\u{18}", "dag-cbor"),
    ])
    func malformedInputFailsWithOneLine(input: String, codec: String) async throws {
        let result = try await CLIRunner.run(
            ["dag", "put", "--input-codec", codec, "--only-hash"],
            stdin: codec == "dag-cbor"
                ? input.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) } : Array(input.utf8)
        )
        #expect(!result.crashed)
        #expect(result.status != 0)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test func randomBytesNeverCrashTheCLI() async throws {
        var state: UInt64 = 0x5eed
        for round in 0..<20 {
            var bytes: [UInt8] = []
            for _ in 0..<(round * 7 + 1) {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes.append(UInt8(truncatingIfNeeded: state >> 33))
            }
            for codec in ["dag-cbor", "dag-json"] {
                let result = try await CLIRunner.run(
                    ["dag", "put", "--input-codec", codec, "--only-hash"],
                    stdin: bytes
                )
                #expect(!result.crashed, "\(codec) \(bytes)")
            }
        }
    }

    @Test func unknownOptionsAreClearErrors() async throws {
        let badHash = try await CLIRunner.run(["dag", "put", "--hash", "md5", "--only-hash"], stdin: Array("{}".utf8))
        #expect(badHash.status != 0)
        #expect(badHash.stderr.contains("md5"))
        let badCodec = try await CLIRunner.run(
            ["dag", "put", "--input-codec", "xml", "--only-hash"],
            stdin: Array("{}".utf8)
        )
        #expect(badCodec.status != 0)
        #expect(badCodec.stderr.contains("xml"))
    }
}
