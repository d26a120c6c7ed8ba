import Foundation
import Synchronization
import Testing
import ThreadsAPI
import ThreadsTestKit

/// The HTTP/JSON API against real daemons: authentication, every route, errors, Server-Sent
/// Events with changes from another node, and shutdown during writes.
@Suite(.timeLimit(.minutes(5))) struct APITests {
    /// A client for a daemon's API, recording which routes it used.
    final class Client: Sendable {
        let http: HTTPClient
        let used = Mutex<Set<String>>([])

        init(_ daemon: DaemonTests.Daemon, token: String? = nil) throws {
            let url = try String(contentsOfFile: daemon.repo + "/api", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let port = Int(url.split(separator: ":").last ?? "") ?? 0
            let secret =
                try token
                ?? String(contentsOfFile: daemon.repo + "/api.token", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            http = HTTPClient(host: "127.0.0.1", port: port, bearerToken: secret)
        }

        /// Calls a route by command, with path parameters, a query and a body.
        func call(
            _ command: String,
            _ parameters: [String: String] = [:],
            query: String = "",
            body: [UInt8]? = nil,
            json: Any? = nil
        ) async throws -> HTTPClient.Response {
            let route = try #require(API.route(for: command))
            used.withLock { _ = $0.insert(command) }
            let payload = try json.map { [UInt8](try JSONSerialization.data(withJSONObject: $0)) } ?? body
            return try await http.request(
                route.method,
                route.path(with: parameters) + (query.isEmpty ? "" : "?" + query),
                headers: payload == nil ? [] : [("Content-Type", "application/json")],
                body: payload
            )
        }

        /// Calls and parses a JSON answer, expecting success.
        func ok(
            _ command: String,
            _ parameters: [String: String] = [:],
            query: String = "",
            body: [UInt8]? = nil,
            json: Any? = nil,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> Any {
            let response = try await call(command, parameters, query: query, body: body, json: json)
            #expect(
                (200..<300).contains(response.status),
                "\(command): \(response.status) \(String(decoding: response.body, as: UTF8.self))",
                sourceLocation: sourceLocation
            )
            return try JSONSerialization.jsonObject(with: Data(response.body), options: [.fragmentsAllowed])
        }

        /// The stable error code of a failed call.
        static func code(_ response: HTTPClient.Response) -> String? {
            let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            return (object?["error"] as? [String: Any])?["code"] as? String
        }
    }

    @Test func authenticationIsRequiredOnEveryRoute() async throws {
        let daemon = DaemonTests.Daemon()
        try await TestKit.offPool { try daemon.start() }
        let token = try String(contentsOfFile: daemon.repo + "/api.token", encoding: .utf8)
        let attributes = try FileManager.default.attributesOfItem(atPath: daemon.repo + "/api.token")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(token.trimmingCharacters(in: .whitespacesAndNewlines).count == 64)
        #expect(daemon.banner.contains { $0.hasPrefix("API server listening on http://127.0.0.1:") })
        let good = try Client(daemon)
        let none = HTTPClient(host: "127.0.0.1", port: good.http.port, bearerToken: nil)
        let wrong = try Client(daemon, token: String(repeating: "0", count: 64))
        for route in API.routes {
            let path = route.path(with: Dictionary(uniqueKeysWithValues: route.parameters.map { ($0, "x") }))
            let refused = try await none.request(route.method, path)
            #expect(refused.status == 401, "\(route.method) \(route.path)")
            #expect(Client.code(refused) == "unauthorized")
            #expect(refused.header("WWW-Authenticate") == "Bearer")
        }
        #expect(try await wrong.call("node.id").status == 401)
        #expect(try await good.call("node.id").status == 200)
        let unknownThread = "bafk2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xk5lvov2xky"
        let listen = try await good.call("db.listen", ["id": unknownThread])
        #expect(listen.status == 404 && Client.code(listen) == "not_found")
        // The CLI goes through the API while the daemon holds the repo.
        let id = try (try await CLIRunner.run(["id", "--repo", daemon.repo])).json()
        #expect(id["peerID"] as? String == daemon.peerID)
        #expect((id["addresses"] as? [String])?.contains { $0.contains("/tcp/") && !$0.contains("/tcp/0/") } == true)
    }

    @Test func nonLoopbackAPIWithoutATokenIsRefused() async throws {
        let (status, text) = try await DaemonTests.runToExit([
            "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "/ip4/0.0.0.0/tcp/0", "--no-auth",
        ])
        #expect(status != 0)
        #expect(text.contains("without a token"), "\(text)")
    }

    @Test func everyRouteWorksEndToEnd() async throws {
        let a = DaemonTests.Daemon()
        let b = DaemonTests.Daemon()
        for daemon in [a, b] { try await TestKit.offPool { try daemon.start() } }
        let api = try Client(a)
        let other = try Client(b)

        // Node, peers, DHT, exchange, metrics.
        let id = try await api.ok("node.id") as? [String: Any]
        #expect(id?["peerID"] as? String == a.peerID)
        _ = try await api.ok("swarm.connect", json: ["address": try #require(b.address)])
        let peers = try await api.ok("swarm.peers") as? [[String: Any]]
        #expect(peers?.contains { $0["peerID"] as? String == b.peerID } == true)
        let table = try await api.ok("dht.table") as? [String: Any]
        #expect(table?["peerID"] as? String == a.peerID)
        _ = try await api.call("dht.find-peer", ["peer": try #require(b.peerID)])
        _ = try await api.ok("exchange.stats")
        _ = try await api.ok("exchange.ledger")

        // Blocks and DAG nodes.
        let block = try await api.ok("block.put", query: "codec=raw", body: Array("hello block".utf8)) as? [String: Any]
        let cid = try #require(block?["cid"] as? String)
        let fetched = try await api.call("block.get", ["cid": cid])
        #expect(fetched.body == Array("hello block".utf8))
        #expect((try await api.ok("block.stat", ["cid": cid]) as? [String: Any])?["size"] as? Int == 11)
        _ = try await api.ok("block.rm", ["cid": cid])
        let gone = try await api.call("block.get", ["cid": cid])
        #expect(gone.status == 404 && Client.code(gone) == "not_found")
        let node = try await api.ok("dag.put", body: Array(#"{"a": [1, 2], "b": "c"}"#.utf8)) as? [String: Any]
        let nodeCID = try #require(node?["cid"] as? String)
        let json = try await api.call("dag.get", ["cid": nodeCID])
        #expect(String(decoding: json.body, as: UTF8.self).contains(#""b":"c""#))
        let tooBig = try await api.call("block.put", body: [UInt8](repeating: 1, count: (2 << 20) + 1))
        #expect(tooBig.status == 413 && Client.code(tooBig) == "payload_too_large")

        // Files: upload, stream back, fetch to a path on the other node.
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let added = try await api.ok("add", query: "chunk-size=65536", body: content) as? [String: Any]
        let fileCID = try #require(added?["cid"] as? String)
        #expect(try await api.call("get", ["cid": fileCID]).body == content)
        // The same bytes from a path on the daemon's machine give the same DAG.
        let local = a.repo + "/local-file"
        try Data(content).write(to: URL(fileURLWithPath: local))
        let imported = try await api.ok("add.path", query: "chunk-size=65536", json: ["path": local]) as? [String: Any]
        #expect(imported?["cid"] as? String == fileCID)
        let output = b.repo + "/fetched"
        _ = try await other.ok("swarm.connect", json: ["address": try #require(a.address)])
        let saved = try await other.ok("get.save", ["cid": fileCID], json: ["output": output]) as? [String: Any]
        #expect(saved?["bytes"] as? Int == content.count)

        // Threads: create, invite, join, records, members, info, list.
        let created = try await api.ok("thread.create", json: [:]) as? [String: Any]
        let thread = try #require(created?["id"] as? String)
        #expect((try await api.ok("thread.list") as? [String])?.contains(thread) == true)
        let invite = try await api.ok("thread.invite", ["id": thread], json: ["role": "writer"]) as? String
        let joined = try await other.ok("thread.join", json: ["invite": try #require(invite)]) as? [String: Any]
        #expect(joined?["id"] as? String == thread)
        _ = try await api.ok("thread.add-record", ["id": thread], body: Array(#"{"note": 1}"#.utf8))
        #expect((try await api.ok("thread.records", ["id": thread]) as? [[String: Any]])?.isEmpty == false)
        let info = try await api.ok("thread.info", ["id": thread]) as? [String: Any]
        #expect(info?["id"] as? String == thread)
        let members = try await api.ok("thread.members", ["id": thread]) as? [String: Any]
        #expect((members?["logs"] as? [[String: Any]])?.count == 2)

        // b listens (Server-Sent Events) before a writes.
        let events = Locked<[String]>([])
        let listening = Locked(false)
        let listener = Task {
            let box = Locked(SSEParser())
            try await other.http.stream(
                "GET",
                API.route(for: "db.listen")!.path(with: ["id": thread]) + "?collection=people",
                head: { status, _ in listening.withLock { $0 = status == 200 } },
                chunk: { bytes in
                    let parsed = box.withLock { $0.feed(bytes) }
                    events.withLock { $0 += parsed.filter { $0.event == "change" }.map(\.data) }
                }
            )
        }
        other.used.withLock { _ = $0.insert("db.listen") }
        #expect(await ThreadCommandTests.eventuallyTrue { listening.withLock { $0 } })

        // Collections and instances.
        let schema: [String: Any] = [
            "type": "object", "properties": ["name": ["type": "string"], "age": ["type": "integer"]],
            "required": ["name"],
        ]
        _ = try await api.ok(
            "db.collection.create",
            ["id": thread],
            json: ["collection": "people", "schema": schema, "indexes": ["age"]]
        )
        let conflict = try await api.call(
            "db.collection.create",
            ["id": thread],
            json: ["collection": "people", "schema": schema]
        )
        #expect(conflict.status == 409 && Client.code(conflict) == "conflict")
        _ = try await api.ok(
            "db.collection.update",
            ["id": thread, "collection": "people"],
            json: ["schema": schema, "indexes": ["age", "name"]]
        )
        let collections = try await api.ok("db.collection.list", ["id": thread]) as? [[String: Any]]
        #expect(collections?.first?["indexes"] as? [String] == ["age", "name"])
        let ids =
            try await api.ok(
                "db.create",
                ["id": thread, "collection": "people"],
                body: Array(#"[{"_id": "ann", "name": "Ann", "age": 31}, {"name": "Bob", "age": 25}]"#.utf8)
            ) as? [String]
        #expect(ids?.count == 2 && ids?.first == "ann")
        let invalid = try await api.call(
            "db.create",
            ["id": thread, "collection": "people"],
            body: Array(#"{"name": 5}"#.utf8)
        )
        #expect(invalid.status == 422 && Client.code(invalid) == "schema_violation")
        let malformed = try await api.call(
            "db.create",
            ["id": thread, "collection": "people"],
            body: Array(#"{"name": "#.utf8)
        )
        #expect(malformed.status == 400 && Client.code(malformed) == "bad_json")
        _ = try await api.ok(
            "db.save",
            ["id": thread, "collection": "people"],
            body: Array(#"{"_id": "ann", "name": "Ann", "age": 32}"#.utf8)
        )
        let ann =
            try await api.ok("db.get", ["id": thread, "collection": "people", "instance": "ann"]) as? [String: Any]
        #expect(ann?["age"] as? Int == 32)
        #expect(try await api.ok("db.has", ["id": thread, "collection": "people", "instance": "ann"]) as? Bool == true)
        let found =
            try await api.ok(
                "db.find",
                ["id": thread, "collection": "people"],
                query: "explain=true",
                body: Array(#"{"filter": {"age": {"$gte": 30}}, "sort": ["-age"]}"#.utf8)
            ) as? [String: Any]
        #expect((found?["explain"] as? [String: Any])?["index"] as? String == "age")
        #expect((found?["results"] as? [[String: Any]])?.count == 1)
        let badQuery = try await api.call(
            "db.find",
            ["id": thread, "collection": "people"],
            body: Array(#"{"filter": {"age": {"$near": 1}}}"#.utf8)
        )
        #expect(badQuery.status == 400 && Client.code(badQuery) == "bad_query")
        _ = try await api.ok(
            "db.write",
            ["id": thread],
            body: Array(
                #"[{"action": "create", "collection": "people", "instance": {"_id": "cy", "name": "Cy"}}, {"action": "delete", "collection": "people", "id": "cy"}]"#
                    .utf8
            )
        )
        _ = try await api.ok("db.delete", ["id": thread, "collection": "people"], json: ["ids": ["ann"]])
        let missing = try await api.call("db.get", ["id": thread, "collection": "people", "instance": "ann"])
        #expect(missing.status == 404 && Client.code(missing) == "not_found")
        let digest = try await api.ok("db.digest", ["id": thread]) as? [String: Any]
        #expect((digest?["digest"] as? String)?.count == 64)

        // b saw a's changes: create ann, create Bob, save ann, create cy, delete cy, delete ann.
        #expect(await ThreadCommandTests.eventuallyTrue { events.withLock { $0.count } >= 6 })
        listener.cancel()
        let actions = events.withLock { $0 }.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["action"] as? String
        }
        #expect(actions == ["create", "create", "save", "create", "delete", "delete"])
        #expect(
            await ThreadCommandTests.eventuallyTrue {
                (try? await other.ok("db.digest", ["id": thread]) as? [String: Any])?["digest"] as? String
                    == digest?["digest"] as? String
            }
        )

        // Revoke b, then delete the thread.
        let logs = (members?["logs"] as? [[String: Any]] ?? []).filter { $0["role"] as? String == "writer" }
        let log = try #require(logs.first?["log"] as? String)
        _ = try await api.ok("thread.revoke", ["id": thread], json: ["log": log])
        // b goes for good, and a forgets it as a member: it leaves the members list (its logs and
        // roles stay); forgetting it again, or a peer ID that does not parse, is a clear error.
        let bPeer = try #require(b.peerID)
        _ = await TestKit.offPool { b.stop() }
        let memberPeers = { () async throws -> [String] in
            let members = try await api.ok("thread.members", ["id": thread]) as? [String: Any]
            return (members?["peers"] as? [[String: Any]] ?? []).compactMap { $0["peerID"] as? String }
        }
        #expect(try await memberPeers().contains(bPeer))
        let forgot = try await api.ok("thread.forget", ["id": thread], json: ["peer": bPeer]) as? [String: Any]
        #expect(forgot?["forgotten"] as? String == bPeer)
        #expect(try await !memberPeers().contains(bPeer))
        let again = try await api.call("thread.forget", ["id": thread], json: ["peer": bPeer])
        #expect(again.status == 400 && String(decoding: again.body, as: UTF8.self).contains("is not a member"))
        #expect(try await api.call("thread.forget", ["id": thread], json: ["peer": "nobody"]).status == 400)
        let metrics = try await api.call("metrics")
        let text = String(decoding: metrics.body, as: UTF8.self)
        #expect(metrics.header("Content-Type")?.hasPrefix("text/plain") == true)
        for name in [
            "threads_peers_connected", "threads_blocks", "threads_records", "threads_replication_lag_records",
            "threads_dht_table_size",
        ] {
            #expect(text.contains("\n\(name) ") || text.hasPrefix("\(name) "), "\(name) in \(text)")
        }
        _ = try await api.ok("thread.delete", ["id": thread])
        let deleted = try await api.call("thread.info", ["id": thread])
        #expect(deleted.status == 404)
        _ = try await api.call("dht.provide", json: ["cid": fileCID])
        _ = try await api.call("dht.providers", ["cid": fileCID])

        // Unknown routes are JSON errors too.
        let unknown = try await api.http.request("GET", "/v0/nothing")
        #expect(unknown.status == 404 && Client.code(unknown) == "not_found")

        let used = api.used.withLock { $0 }.union(other.used.withLock { $0 })
        let unused = Set(API.routes.map(\.command)).subtracting(used)
        #expect(unused.isEmpty, "routes not exercised: \(unused.sorted())")
    }

    @Test func shutdownDuringWritesLosesNothingAcknowledged() async throws {
        let daemon = DaemonTests.Daemon()
        try await TestKit.offPool { try daemon.start() }
        let api = try Client(daemon)
        let thread = try #require((try await api.ok("thread.create", json: [:]) as? [String: Any])?["id"] as? String)
        _ = try await api.ok(
            "db.collection.create",
            ["id": thread],
            json: ["collection": "items", "schema": ["type": "object"]]
        )
        let acknowledged = Locked<[String]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for n in 0..<400 {
                        let id = "w\(writer)-\(n)"
                        guard
                            let response = try? await api.call(
                                "db.create",
                                ["id": thread, "collection": "items"],
                                body: Array(#"{"_id": "\#(id)", "n": \#(n)}"#.utf8)
                            )
                        else { return }
                        guard response.status == 200 else { return }
                        acknowledged.withLock { $0.append(id) }
                    }
                }
            }
            group.addTask {
                // Stop the daemon in the middle of the burst.
                try await Task.sleep(for: .milliseconds(600))
                _ = await TestKit.offPool { daemon.stop() }
            }
            try await group.waitForAll()
        }
        let written = acknowledged.withLock { $0 }
        #expect(daemon.process.terminationStatus == 0)
        #expect(!written.isEmpty)
        let restarted = DaemonTests.Daemon(repo: daemon.repo)
        try await TestKit.offPool { try restarted.start() }
        let again = try Client(restarted)
        let stored =
            try await again.ok("db.find", ["id": thread, "collection": "items"], body: Array("{}".utf8))
            as? [[String: Any]]
        let present = Set((stored ?? []).compactMap { $0["_id"] as? String })
        let lost = written.filter { !present.contains($0) }
        #expect(lost.isEmpty, "\(lost.count) of \(written.count) acknowledged writes lost")
    }
}

extension ThreadCommandTests {
    /// Polls a condition for up to 15 s.
    static func eventuallyTrue(_ condition: () async -> Bool) async -> Bool {
        for _ in 0..<300 {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return await condition()
    }
}

/// A value shared by tasks, behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try lock.withLock { try body(&value) }
    }
}
