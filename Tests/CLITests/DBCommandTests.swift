import Foundation
import Testing
import ThreadsTestKit

/// `threads db …` across three daemons: a collection made on one reaches the others with the
/// thread, concurrent conflicting edits converge to one digest, and a listener sees every remote
/// change once.
@Suite(.timeLimit(.minutes(5))) struct DBCommandTests {
    static func run(_ arguments: [String], _ daemon: DaemonTests.Daemon, stdin: String = "") async throws
        -> CLIRunner.Result
    {
        try await CLIRunner.run(["db"] + arguments + ["--repo", daemon.repo, "--compact"], stdin: Array(stdin.utf8))
    }

    static func digest(_ daemon: DaemonTests.Daemon, _ thread: String) async throws -> String? {
        let result = try await run(["digest", thread], daemon)
        return (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["digest"]
            as? String
    }

    static func find(_ daemon: DaemonTests.Daemon, _ thread: String, _ filter: String = "{}") async throws -> [[String:
        Any]]
    {
        let result = try await run(["find", thread, "people", filter], daemon)
        return (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]) ?? []
    }

    @Test func threeNodesConvergeAndListenersSeeRemoteChanges() async throws {
        let nodes = [DaemonTests.Daemon(), DaemonTests.Daemon(), DaemonTests.Daemon()]
        for daemon in nodes { try await TestKit.offPool { try daemon.start() } }
        let (a, b, c) = (nodes[0], nodes[1], nodes[2])
        let create = try await CLIRunner.run(["thread", "create", "--repo", a.repo])
        let created = try create.json()
        let thread = try #require(created["id"] as? String)
        // The thread commands lay JSON out as the db commands do.
        #expect(create.stdout.hasPrefix("{\n  \"id\": \"\(thread)\",\n"), "\(create.stdout)")

        // A collection with a schema and an index; a bad schema and a bad instance are refused.
        let schemaFile = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID()).json")
        try Data(
            #"{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}},"required":["name"]}"#
                .utf8
        ).write(to: schemaFile)
        defer { try? FileManager.default.removeItem(at: schemaFile) }
        let collection = try await Self.run(
            ["collection", "create", thread, "people", "--schema", schemaFile.path, "--index", "age"],
            a
        )
        #expect(collection.status == 0, "\(collection.stderr)")
        let badSchema = try await Self.run(["collection", "create", thread, "other", "--schema", #"{"type": 5}"#], a)
        #expect(badSchema.status != 0 && badSchema.stderr.contains("bad schema"), "\(badSchema.stderr)")
        let bad = try await Self.run(["create", thread, "people", #"{"name": "X", "age": -1}"#], a)
        #expect(bad.status != 0 && bad.stderr.contains("$.age"), "\(bad.stderr)")
        let badJSON = try await Self.run(["create", thread, "people", #"{"name": }"#], a)
        #expect(badJSON.status != 0 && badJSON.stderr.contains("line 1, column 10"), "\(badJSON.stderr)")

        let seeded = try await Self.run(
            ["create", thread, "people", #"[{"_id":"p1","name":"Ann","age":30},{"_id":"p2","name":"Bob","age":40}]"#],
            a
        )
        #expect(seeded.status == 0, "\(seeded.stderr)")

        // b and c join as writers; the collection definition comes with the thread.
        for daemon in [b, c] {
            let invite = try await CLIRunner.run(["thread", "invite", thread, "--role", "writer", "--repo", a.repo])
            let join = try await CLIRunner.run(["thread", "join", invite.trimmedStdout, "--repo", daemon.repo])
            #expect(join.status == 0, "\(join.stderr)")
        }
        #expect(try await ThreadCommandTests.eventually { try await Self.find(c, thread).count == 2 })
        let collections = try await Self.run(["collection", "list", thread], b)
        #expect(collections.stdout.contains("\"people\"") && collections.stdout.contains("\"age\""))

        // b listens; a and c write.
        let listener = Process()
        listener.executableURL = CLIRunner.executable
        listener.arguments = ["db", "listen", thread, "--collection", "people", "--repo", b.repo]
        let lines = TestKit.pipe()
        let ready = TestKit.pipe()
        listener.standardOutput = lines
        listener.standardError = ready
        try listener.run()
        defer { if listener.isRunning { listener.terminate() } }
        let banner = await TestKit.offPool {
            String(decoding: ready.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(banner.contains("Listening for changes"))

        // Concurrent conflicting edits of the same instances on all three nodes.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, daemon) in nodes.enumerated() {
                group.addTask {
                    for round in 0..<5 {
                        for id in ["p1", "p2"] {
                            let save = try await Self.run(
                                [
                                    "save", thread, "people",
                                    #"{"_id":"\#(id)","name":"n\#(index)-\#(round)","age":\#(index * 10 + round)}"#,
                                ],
                                daemon
                            )
                            #expect(save.status == 0, "\(save.stderr)")
                        }
                    }
                    let own = try await Self.run(
                        ["create", thread, "people", #"{"_id":"own\#(index)","name":"x"}"#],
                        daemon
                    )
                    #expect(own.status == 0, "\(own.stderr)")
                }
            }
            try await group.waitForAll()
        }
        #expect(
            try await ThreadCommandTests.eventually {
                let digests = try await nodes.asyncMap { try await Self.digest($0, thread) }
                let counts = try await [a, c].asyncMap { try await Self.find($0, thread).count }
                return digests[0] != nil && Set(digests).count == 1 && counts == [5, 5]
            }
        )
        let states = try await nodes.asyncMap { try await Self.run(["find", thread, "people"], $0).stdout }
        #expect(Set(states).count == 1)

        // The index answers queries on every node the same way a scan does.
        let explained = try await Self.run(["find", thread, "people", #"{"age": {"$gte": 0}}"#, "--explain"], c)
        #expect(explained.stdout.contains("\"index\":\"age\""), "\(explained.stdout)")

        // The listener saw each change exactly once: per node 10 saves and 1 create, the remote
        // ones included.
        listener.terminate()
        let text = await TestKit.offPool {
            String(decoding: TestKit.drain(lines, whileRunning: listener), as: UTF8.self)
        }
        let changes = text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        for daemon in nodes {
            let info = try (try await CLIRunner.run(["thread", "info", thread, "--repo", daemon.repo])).json()
            let log = try #require(info["ownLog"] as? String)
            let own = changes.filter { $0["log"] as? String == log }
            #expect(own.filter { $0["action"] as? String == "save" }.count == 10, "\(text)")
            #expect(own.filter { $0["action"] as? String == "create" }.count == 1, "\(text)")
        }
        #expect(changes.count == 33)
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
