import Foundation
import Multiformats
import Sodium
import Store
import Testing
import Threads
import ThreadsTestKit

@testable import ThreadsDB

/// A logstore and database over a temporary LevelDB, with one thread.
final class TestDB: @unchecked Sendable {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("threadsdb-\(UUID().uuidString)").path
    var database: Database
    var logstore: Logstore
    var db: ThreadDB
    let thread = ThreadID(variant: .raw)

    init() throws {
        database = try Database(path: path)
        logstore = Logstore(database: database, blockstore: Blockstore(database: database))
        db = ThreadDB(logstore: logstore) { _, _ in }
        try logstore.addThread(thread, key: ThreadKey())
    }

    /// Closes and reopens everything, as a restart would.
    func reopen() throws {
        database.close()
        database = try Database(path: path)
        logstore = Logstore(database: database, blockstore: Blockstore(database: database))
        db = ThreadDB(logstore: logstore) { _, _ in }
    }

    var reader: DBReader { get throws { try db.reader(thread) } }

    var records: UInt64 { (try? logstore.heads(of: thread).values.map { $0.sequence + 1 }.reduce(0, +)) ?? 0 }

    static let personSchema: JSON = [
        "type": "object",
        "properties": [
            "name": ["type": "string", "minLength": 1],
            "age": ["type": "integer", "minimum": 0],
            "address": ["type": "object", "properties": ["city": ["type": "string"]]],
        ],
        "required": ["name"],
        "additionalProperties": false,
    ]

    func people(indexes: [String] = ["age", "address.city"]) async throws {
        try await db.newCollection(
            try CollectionDefinition(
                name: "people",
                schema: JSONSchema(Self.personSchema),
                indexes: indexes.map(FieldPath.init)
            ),
            in: thread
        )
    }

    deinit {
        database.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}

@Suite("ThreadDB", .timeLimit(.minutes(5)))
struct ThreadDBTests {
    @Test func createFindSaveDelete() async throws {
        let t = try TestDB()
        try await t.people()
        let ids = try await t.db.create(
            [["name": "Ann", "age": 31, "address": ["city": "Oslo"]], ["_id": "bob", "name": "Bob", "age": 25]],
            in: "people",
            thread: t.thread
        )
        #expect(ids.count == 2 && ids[1] == "bob")
        #expect(ids[0].count == 26)
        let reader = try t.reader
        #expect(try reader.get("people", id: "bob") == ["_id": "bob", "name": "Bob", "age": 25])
        #expect(try reader.has("people", id: ids[0]))
        let adults = try reader.find("people", Query(["filter": ["age": ["$gt": 30]]]))
        #expect(adults.map { $0["name"] } == ["Ann"])
        let explained = try reader.explain("people", Query(["filter": ["address.city": "Oslo"]]))
        #expect(explained.index == "address.city" && explained.examined == 1 && explained.returned == 1)
        #expect(try reader.explain("people", Query(["filter": ["name": "Bob"]])).index == nil)
        #expect(try reader.explain("people", Query(["filter": ["_id": "bob"]])).index == "_id")

        try await t.db.save([["_id": "bob", "name": "Bob", "age": 26]], in: "people", thread: t.thread)
        #expect(try reader.get("people", id: "bob")?["age"] == 26)
        #expect(try reader.find("people", Query(["filter": ["age": 26]])).count == 1)
        #expect(try reader.find("people", Query(["filter": ["age": 25]])).isEmpty)
        try await t.db.delete(["bob"], in: "people", thread: t.thread)
        #expect(try reader.get("people", id: "bob") == nil)
        #expect(try reader.find("people", Query(["filter": ["age": 26]])).isEmpty)
        await #expect(throws: DBError.instanceNotFound(collection: "people", id: "bob")) {
            try await t.db.delete(["bob"], in: "people", thread: t.thread)
        }
        await #expect(throws: DBError.instanceExists(collection: "people", id: ids[0])) {
            try await t.db.create([["_id": .string(ids[0]), "name": "X"]], in: "people", thread: t.thread)
        }
        await #expect(throws: DBError.unknownCollection("nope")) {
            try await t.db.create([["name": "X"]], in: "nope", thread: t.thread)
        }
        #expect(throws: DBError.unknownCollection("nope")) { try reader.find("nope") }
    }

    @Test func schemaViolationsStoreNothingAndNameThePath() async throws {
        let t = try TestDB()
        try await t.people()
        try await t.db.create([["_id": "a", "name": "Ann"]], in: "people", thread: t.thread)
        let before = (try t.reader.digest(), t.records)
        await #expect(
            throws: DBError.schemaViolation(
                collection: "people",
                path: "$.address.city",
                reason: "expected string, found number"
            )
        ) {
            try await t.db.create([["name": "Cy", "address": ["city": 5]]], in: "people", thread: t.thread)
        }
        // In a transaction, a bad second action stops the first too.
        await #expect(throws: DBError.self) {
            try await t.db.write(
                [
                    .create(collection: "people", instance: ["_id": "ok", "name": "Ok"]),
                    .save(collection: "people", instance: ["_id": "a", "name": "Ann", "age": -1]),
                ],
                in: t.thread
            )
        }
        await #expect(throws: DBError.badInstance("an instance must be a JSON object, not array")) {
            try await t.db.create([[1, 2]], in: "people", thread: t.thread)
        }
        #expect((try t.reader.digest(), t.records) == before)
        #expect(try t.reader.get("people", id: "ok") == nil)
    }

    @Test func transactionsLandAsOneEventAndReadersSeeASnapshot() async throws {
        let t = try TestDB()
        try await t.people()
        let records = t.records
        let snapshot = try t.db.reader(t.thread, snapshot: true)
        try await t.db.write(
            [
                .create(collection: "people", instance: ["_id": "a", "name": "A"]),
                .save(collection: "people", instance: ["_id": "a", "name": "A2", "age": 3]),
                .create(collection: "people", instance: ["_id": "b", "name": "B"]),
                .delete(collection: "people", id: "b"),
            ],
            in: t.thread
        )
        #expect(t.records == records + 1)
        #expect(try t.reader.find("people") == [["_id": "a", "name": "A2", "age": 3]])
        #expect(try snapshot.find("people").isEmpty)
    }

    @Test func collectionsUpdateAndIndexesFollow() async throws {
        let t = try TestDB()
        try await t.people(indexes: [])
        try await t.db.create([["name": "A", "age": 1], ["name": "B", "age": 2]], in: "people", thread: t.thread)
        #expect(try t.reader.explain("people", Query(["filter": ["age": 2]])).index == nil)
        await #expect(throws: DBError.collectionExists("people")) { try await t.people() }
        var schema = TestDB.personSchema
        if case .object(var members) = schema {
            members["required"] = ["name", "age"]
            schema = .object(members)
        }
        try await t.db.updateCollection(
            try CollectionDefinition(name: "people", schema: JSONSchema(schema), indexes: [FieldPath("age")]),
            in: t.thread
        )
        let explained = try t.reader.explain("people", Query(["filter": ["age": 2]]))
        #expect(explained.index == "age" && explained.examined == 1)
        await #expect(
            throws: DBError.schemaViolation(
                collection: "people",
                path: "$",
                reason: "missing required property \"age\""
            )
        ) {
            try await t.db.create([["name": "C"]], in: "people", thread: t.thread)
        }
        #expect(try t.reader.collections().map(\.name) == ["people"])
    }

    @Test func listenersSeeEveryChangeOnce() async throws {
        let t = try TestDB()
        try await t.people()
        let all = await t.db.changes(in: t.thread)
        let deletes = await t.db.changes(in: t.thread, filter: ChangeFilter(actions: [.delete]))
        try await t.db.create([["_id": "a", "name": "A"]], in: "people", thread: t.thread)
        try await t.db.save([["_id": "a", "name": "B"]], in: "people", thread: t.thread)
        try await t.db.delete(["a"], in: "people", thread: t.thread)
        var seen: [DBChange] = []
        for await change in all {
            seen.append(change)
            if seen.count == 3 { break }
        }
        #expect(seen.map(\.action) == [.create, .save, .delete])
        #expect(seen[1].instance == ["_id": "a", "name": "B"])
        #expect(seen[2].instance == nil)
        var iterator = deletes.makeAsyncIterator()
        #expect(await iterator.next()?.instanceID == "a")
    }

    @Test func recordsNotYetAppliedAreAppliedAfterARestart() async throws {
        let t = try TestDB()
        try await t.people()
        try await t.db.create([["_id": "a", "name": "A"]], in: "people", thread: t.thread)
        // A crash after the record was stored and before the state was written: the record is
        // there, the database has not seen it.
        let event = DBEvent(actions: [.create(collection: "people", id: "b", fields: ["name": "B"])])
        try t.logstore.append(event.encoded, to: t.thread)
        // Records that are not database events are skipped.
        try t.logstore.append(Array("{\"note\": 1}".utf8), to: t.thread)
        try t.reopen()
        #expect(try t.reader.get("people", id: "b") == nil)
        await t.db.catchUpAll()
        #expect(try t.reader.find("people").map { $0["_id"] } == ["a", "b"])
        // And writes go on from there.
        try await t.db.create([["_id": "c", "name": "C"]], in: "people", thread: t.thread)
        #expect(try t.reader.find("people").count == 3)
    }

    @Test func replicasCannotOpenTheDatabase() async throws {
        let t = try TestDB()
        let blind = ThreadID(variant: .raw)
        try t.logstore.addThread(blind, key: ThreadKey(read: nil))
        #expect(throws: DBError.self) { try t.db.reader(blind) }
    }
}
