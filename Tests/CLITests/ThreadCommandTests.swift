import Foundation
import Testing
import ThreadsTestKit

/// `threads thread …` across three daemons: create, invite by multiaddr, join, write, replicate.
@Suite(.timeLimit(.minutes(5))) struct ThreadCommandTests {
    static func json(_ result: CLIRunner.Result) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(result.stdout.utf8), options: [.fragmentsAllowed])
    }

    /// The thread's records that carry data (access-log entries left out).
    static func records(_ daemon: DaemonTests.Daemon, _ id: String) async throws -> [[String: Any]] {
        let result = try await CLIRunner.run(["thread", "records", id, "--repo", daemon.repo])
        return ((try json(result) as? [[String: Any]]) ?? []).filter { $0["acl"] == nil }
    }

    static func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        for _ in 0..<300 {
            if (try? await condition()) == true { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    @Test func threadsAreSharedByInviteAndReplicate() async throws {
        let a = DaemonTests.Daemon()
        let b = DaemonTests.Daemon()
        let c = DaemonTests.Daemon()
        for daemon in [a, b, c] { try await TestKit.offPool { try daemon.start() } }
        let created = try Self.json(try await CLIRunner.run(["thread", "create", "--repo", a.repo])) as? [String: Any]
        let id = try #require(created?["id"] as? String)
        #expect(id.hasPrefix("b"))
        for n in 0..<3 {
            let add = try await CLIRunner.run(
                ["thread", "add-record", id, "--repo", a.repo],
                stdin: Array("{\"n\": \(n)}".utf8)
            )
            #expect(add.status == 0, "\(add.stderr)")
        }
        let notJSON = try await CLIRunner.run(
            ["thread", "add-record", id, "--repo", a.repo],
            stdin: Array("nope".utf8)
        )
        #expect(notJSON.status != 0)
        #expect(notJSON.stderr.contains("not valid JSON"))

        // A writer invite starts with a's multiaddr and the thread.
        let invite = try await CLIRunner.run(["thread", "invite", id, "--role", "writer", "--repo", a.repo])
        let writerInvite = invite.trimmedStdout
        #expect(writerInvite.hasPrefix(try #require(a.address) + "/thread/" + id + "?"), "\(writerInvite)")
        let join = try await CLIRunner.run(["thread", "join", writerInvite, "--repo", b.repo])
        #expect(join.status == 0, "\(join.stderr)")
        #expect(
            try await Self.records(b, id).compactMap { ($0["body"] as? [String: Any])?["n"] as? Int }.sorted() == [
                0, 1, 2,
            ]
        )

        // A large record travels by link, its body through the block exchange.
        let large = "{\"big\": \"" + String(repeating: "y", count: 60_000) + "\"}"
        let addLarge = try await CLIRunner.run(
            ["thread", "add-record", id, "--repo", a.repo],
            stdin: Array(large.utf8)
        )
        #expect(addLarge.status == 0, "\(addLarge.stderr)")
        #expect(
            try await Self.eventually {
                try await Self.records(b, id).contains {
                    (($0["body"] as? [String: Any])?["big"] as? String)?.count == 60_000
                }
            }
        )

        // b writes; a receives it at once (push).
        _ = try await CLIRunner.run(
            ["thread", "add-record", id, "--repo", b.repo],
            stdin: Array("{\"from\": \"b\"}".utf8)
        )
        #expect(try await Self.eventually { try await Self.records(a, id).count == 5 })

        // A replica stores everything but reads nothing.
        let replicaInvite = try await CLIRunner.run(["thread", "invite", id, "--role", "replica", "--repo", a.repo])
            .trimmedStdout
        let joinReplica = try await CLIRunner.run(["thread", "join", replicaInvite, "--repo", c.repo])
        #expect(joinReplica.status == 0, "\(joinReplica.stderr)")
        #expect(try await Self.eventually { try await Self.records(c, id).count == 5 })
        #expect(try await Self.records(c, id).allSatisfy { $0["body"] == nil })
        let info = try Self.json(try await CLIRunner.run(["thread", "info", id, "--repo", c.repo])) as? [String: Any]
        #expect(info?["canRead"] as? Bool == false)

        // Roles: b's log is a writer; the owner revokes it, and b can no longer write.
        let members =
            try Self.json(try await CLIRunner.run(["thread", "members", id, "--repo", a.repo])) as? [String: Any]
        let logs = (members?["logs"] as? [[String: Any]]) ?? []
        let writerLog = try #require(logs.first { $0["role"] as? String == "writer" }?["log"] as? String)
        #expect(logs.contains { $0["role"] as? String == "owner" })
        let revoke = try await CLIRunner.run(["thread", "revoke", id, writerLog, "--repo", a.repo])
        #expect(revoke.status == 0, "\(revoke.stderr)")
        #expect((try Self.json(revoke) as? [String: Any])?["epoch"] as? Int == 1)
        #expect(
            try await Self.eventually {
                let result = try await CLIRunner.run(
                    ["thread", "add-record", id, "--repo", b.repo],
                    stdin: Array("{}".utf8)
                )
                return result.status != 0 && result.stderr.contains("not a writer")
            }
        )
        let notOwner = try await CLIRunner.run(["thread", "invite", id, "--role", "writer", "--repo", b.repo])
        #expect(notOwner.status != 0)

        // Bad input is a clear error.
        let bad = try await CLIRunner.run(["thread", "join", "/ip4/127.0.0.1/tcp/1?role=writer", "--repo", b.repo])
        #expect(bad.status != 0)
        let unknown = try await CLIRunner.run([
            "thread", "info", "bafk2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xky", "--repo", a.repo,
        ])
        #expect(unknown.stderr.contains("unknown thread"), "\(unknown.stderr)")
        let notMember = try await CLIRunner.run(["thread", "forget", id, try #require(a.peerID), "--repo", a.repo])
        #expect(notMember.status != 0 && notMember.stderr.contains("is not a member"), "\(notMember.stderr)")

        // Everything survives a restart of b.
        #expect(await TestKit.offPool { b.stop() } == 0)
        let b2 = DaemonTests.Daemon(repo: b.repo)
        try await TestKit.offPool { try b2.start() }
        #expect(try await Self.records(b2, id).count == 5)
        // Deleting the thread on c removes it there only.
        let deleted = try await CLIRunner.run(["thread", "delete", id, "--repo", c.repo])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(try Self.json(try await CLIRunner.run(["thread", "list", "--repo", c.repo])) as? [String] == [])
        #expect(try Self.json(try await CLIRunner.run(["thread", "list", "--repo", a.repo])) as? [String] == [id])
        // Bodies print as written: an integer beyond 2^53 stays exact, strings keep their commas,
        // colons, brackets and escaped quotes, and empty containers stay on one line.
        let exact = #"{"big": 9007199254740993, "s": "a, b: [c] {d} \"q\",", "e": [], "o": {}}"#
        let addExact = try await CLIRunner.run(
            ["thread", "add-record", id, "--repo", a.repo],
            stdin: Array(exact.utf8)
        )
        #expect(addExact.status == 0, "\(addExact.stderr)")
        let listed = try await CLIRunner.run(["thread", "records", id, "--repo", a.repo])
        for line in [#""big": 9007199254740993,"#, #""s": "a, b: [c] {d} \"q\",""#, #""e": [],"#, #""o": {},"#] {
            #expect(listed.stdout.contains(line), "\(listed.stdout)")
        }
        for daemon in [a, b2, c] { #expect(await TestKit.offPool { daemon.stop() } == 0) }
    }

    @Test func aNewcomerFindsOtherMembersThroughTheDHTWhenTheInviterIsOffline() async throws {
        let a = DaemonTests.Daemon()
        let b = DaemonTests.Daemon()
        let c = DaemonTests.Daemon()
        try await TestKit.offPool { try a.start() }
        let aAddress = try #require(a.address)
        try await TestKit.offPool { try b.start(["--bootstrap", aAddress]) }
        #expect(await TestKit.offPool { b.bootstrapResult() == "DHT: reached 1 of 1 bootstrap peers" })
        let created = try Self.json(try await CLIRunner.run(["thread", "create", "--repo", a.repo])) as? [String: Any]
        let id = try #require(created?["id"] as? String)
        _ = try await CLIRunner.run(
            ["thread", "add-record", id, "--repo", a.repo],
            stdin: Array("{\"hello\": 1}".utf8)
        )
        let invite = try await CLIRunner.run(["thread", "invite", id, "--repo", a.repo]).trimmedStdout
        let joined = try await CLIRunner.run(["thread", "join", invite, "--repo", b.repo])
        #expect(joined.status == 0, "\(joined.stderr)")
        // b announced itself as a member before join returned; now the inviter goes away.
        let bAddress = try #require(b.address)
        #expect(await TestKit.offPool { a.stop() } == 0)
        try await TestKit.offPool { try c.start(["--bootstrap", bAddress]) }
        #expect(await TestKit.offPool { c.bootstrapResult() == "DHT: reached 1 of 1 bootstrap peers" })
        let late = try await CLIRunner.run(["thread", "join", invite, "--repo", c.repo])
        #expect(late.status == 0, "\(late.stderr)")
        let result = try Self.json(late) as? [String: Any]
        #expect(result?["via"] as? String == "dht")
        #expect(try await Self.eventually { try await Self.records(c, id).count == 1 })
        for daemon in [b, c] { #expect(await TestKit.offPool { daemon.stop() } == 0) }
    }
}
