import Foundation
import Multiformats
import Testing
import ThreadsTestKit

/// `threads init`, `id`, `block …` and `dag put/get` against a real repo.
@Suite(.timeLimit(.minutes(5))) struct RepoCommandTests {
    final class Repo {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cli-repo-\(UUID().uuidString)").path
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    static func initialised() async throws -> Repo {
        let repo = Repo()
        let result = try await CLIRunner.run(["init", "--repo", repo.path])
        try #require(result.status == 0, "\(result.stderr)")
        return repo
    }

    @Test func idPrintsPeerKeyAndAddresses() async throws {
        let repo = try await Self.initialised()
        let result = try await CLIRunner.run(["id", "--repo", repo.path])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try result.json()
        let peer = try PeerID(try #require(json["peerID"] as? String))
        let keyText = try #require(json["publicKey"] as? String)
        let key = try #require(Data(base64Encoded: keyText))
        #expect(try PeerID(publicKeyProtobuf: [UInt8](key)) == peer)
        let addresses = try #require(json["addresses"] as? [String])
        #expect(addresses == ["/ip4/0.0.0.0/tcp/4006/p2p/\(peer)"])
        // THREADS_REPO selects the repo when --repo is absent.
        let viaEnv = try await CLIRunner.run(["id"], environment: ["THREADS_REPO": repo.path])
        #expect(try viaEnv.json()["peerID"] as? String == peer.description)
    }

    @Test func blockPutGetStatRm() async throws {
        let repo = try await Self.initialised()
        let data = Array("hello\n".utf8)
        let put = try await CLIRunner.run(["block", "put", "--repo", repo.path], stdin: data)
        // The well-known CIDv1 (raw, sha2-256) of "hello\n".
        #expect(put.trimmedStdout == "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am")
        let cid = put.trimmedStdout
        let get = try await CLIRunner.run(["block", "get", cid, "--repo", repo.path])
        #expect(get.stdoutBytes == data)
        let stat = try await CLIRunner.run(["block", "stat", cid, "--repo", repo.path])
        #expect(try stat.json()["cid"] as? String == cid)
        #expect(try stat.json()["size"] as? Int == 6)
        #expect(try await CLIRunner.run(["block", "rm", cid, "--repo", repo.path]).status == 0)
        for command in [["block", "get", cid], ["block", "stat", cid], ["block", "rm", cid]] {
            let missing = try await CLIRunner.run(command + ["--repo", repo.path])
            #expect(missing.status != 0)
            #expect(missing.stderr.contains("not found"), "\(missing.stderr)")
        }
        let cbor = try await CLIRunner.run(
            ["block", "put", "--codec", "dag-cbor", "--repo", repo.path],
            stdin: [0xa1, 0x61, 0x61, 0x01]
        )
        #expect(cbor.trimmedStdout.hasPrefix("bafyrei"))
        let notCBOR = try await CLIRunner.run(
            ["block", "put", "--codec", "dag-cbor", "--repo", repo.path],
            stdin: [0xa1, 0x61]
        )
        #expect(notCBOR.status != 0)
    }

    @Test func dagPutStoresAndGetReturnsBothCodecs() async throws {
        let repo = try await Self.initialised()
        let json =
            #"{"n":[1,2.5,{"/":"bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"}],"name":"threads"}"#
        let put = try await CLIRunner.run(["dag", "put", "--repo", repo.path], stdin: Array(json.utf8))
        #expect(put.status == 0, "\(put.stderr)")
        let onlyHash = try await CLIRunner.run(["dag", "put", "--only-hash"], stdin: Array(json.utf8))
        #expect(onlyHash.trimmedStdout == put.trimmedStdout)
        let back = try await CLIRunner.run(["dag", "get", put.trimmedStdout, "--repo", repo.path])
        #expect(back.trimmedStdout == json)  // already canonical: keys sorted, no spaces
        let asCBOR = try await CLIRunner.run([
            "dag", "get", put.trimmedStdout, "--output-codec", "dag-cbor", "--repo", repo.path,
        ])
        let rehash = try await CLIRunner.run(
            ["dag", "put", "--input-codec", "dag-cbor", "--only-hash"],
            stdin: asCBOR.stdoutBytes
        )
        #expect(rehash.trimmedStdout == put.trimmedStdout)
        let missing = try await CLIRunner.run([
            "dag", "get", "bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae", "--repo", repo.path,
        ])
        #expect(missing.status != 0 && missing.stderr.contains("not found"))
    }

    @Test func commandsWithoutARepoFailClearly() async throws {
        let repo = Repo()
        let result = try await CLIRunner.run(["id", "--repo", repo.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("threads init"))
        #expect(!FileManager.default.fileExists(atPath: repo.path))
    }

    /// An independent LevelDB implementation (plyvel, which bundles its own LevelDB and snappy) opens
    /// the datastore `threads init` made and lists the stored blocks.
    @Test func independentLevelDBReaderListsTheBlocks() async throws {
        guard let python = ProcessInfo.processInfo.environment["THREADS_INTEROP_PYTHON"] else {
            print("skipping the plyvel interop test: run through `make test` (sets THREADS_INTEROP_PYTHON)")
            return
        }
        let repo = try await Self.initialised()
        var cids: [String] = []
        for text in ["one", "two", "three"] {
            cids.append(
                try await CLIRunner.run(["block", "put", "--repo", repo.path], stdin: Array(text.utf8)).trimmedStdout
            )
        }
        let script = """
            import sys, plyvel
            db = plyvel.DB(sys.argv[1], create_if_missing=False)
            for key, value in db.iterator(prefix=b'/blocks/'):
                print(key[len(b'/blocks/'):].hex(), value.decode())
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, repo.path + "/datastore"]
        let output = TestKit.pipe()
        process.standardOutput = output
        try process.run()
        let text = await TestKit.offPool {
            let text = String(decoding: TestKit.drain(output, whileRunning: process), as: UTF8.self)
            TestKit.waitForExit(process)
            return text
        }
        #expect(process.terminationStatus == 0)
        var found: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            let cid = try CID(
                bytes: (0..<parts[0].count / 2).map { i in
                    UInt8(parts[0].dropFirst(i * 2).prefix(2), radix: 16)!
                }
            )
            found[cid.description] = String(parts[1])
        }
        #expect(found == [cids[0]: "one", cids[1]: "two", cids[2]: "three"])
    }
}
