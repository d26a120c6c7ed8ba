import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Testing
import Threads
import ThreadsTestKit

@testable import ThreadsDB

/// A LevelDB in a temporary directory, removed at the end.
final class TempDatabase: @unchecked Sendable {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("threadsdb-\(UUID().uuidString)").path
    let database: Database

    init() throws {
        database = try Database(path: path)
    }

    deinit {
        database.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// The reducer on its own: random events from three writers applied in random orders, in random
/// batches, with duplicates, must give every replica the same state, digest and indexes.
@Suite("Convergent merge", .timeLimit(.minutes(5)))
struct ReducerTests {
    typealias Event = (event: DBEvent, clock: HLCTimestamp, log: PeerID)

    static let fields = ["x", "y", "z", "tags"]
    static let ids = ["a", "b", "c", "d", "e"]

    static func value(_ random: inout SeededGenerator) -> JSON {
        switch random.below(6) {
        case 0: .number(Double(random.below(5)))
        case 1: .string(["ann", "bob", "cy"][random.below(3)])
        case 2: .bool(random.below(2) == 0)
        case 3: .null
        case 4: .array((0..<random.below(3)).map { _ in .number(Double(random.below(4))) })
        default: .object(["n": .number(Double(random.below(3)))])
        }
    }

    static func fieldValues(_ random: inout SeededGenerator) -> [String: JSON] {
        var out: [String: JSON] = [:]
        for field in fields where random.below(3) > 0 { out[field] = value(&random) }
        return out
    }

    static func definition(_ name: String, _ random: inout SeededGenerator) -> CollectionDefinition {
        let indexes = fields.filter { _ in random.below(2) == 0 }.map(FieldPath.init)
        return try! CollectionDefinition(name: name, schema: JSONSchema(["type": "object"]), indexes: indexes)
    }

    /// Random events of three writers, each writer's clock increasing.
    static func events(seed: UInt64, count: Int) -> [Event] {
        var random = SeededGenerator(seed: seed)
        let logs = (0..<3).map { _ in Ed25519.PrivateKey().publicKey.peerID }
        var clocks = [HybridLogicalClock](repeating: HybridLogicalClock(), count: 3)
        var out: [Event] = []
        for _ in 0..<count {
            let writer = random.below(3)
            // Close wall times, so equal clocks between writers (broken by log ID) happen.
            let clock = clocks[writer].tick(now: UInt64(1000 + random.below(8)))
            var actions: [DBEvent.Action] = []
            for _ in 0..<(1 + random.below(3)) {
                let collection = ["people", "things"][random.below(2)]
                let id = ids[random.below(ids.count)]
                switch random.below(10) {
                case 0: actions.append(.collection(definition(collection, &random)))
                case 1, 2, 3: actions.append(.create(collection: collection, id: id, fields: fieldValues(&random)))
                case 4, 5, 6, 7:
                    let unset = fields.filter { _ in random.below(4) == 0 }
                    var set = fieldValues(&random)
                    for field in unset { set[field] = nil }
                    actions.append(.save(collection: collection, id: id, set: set, unset: unset))
                default: actions.append(.delete(collection: collection, id: id))
                }
            }
            out.append((DBEvent(actions: actions), clock, logs[writer]))
        }
        return out
    }

    /// Applies `events` in this order to a fresh replica, committing after random runs.
    static func replica(_ events: [Event], thread: ThreadID, random: inout SeededGenerator) throws -> (
        TempDatabase, DBReader
    ) {
        let temp = try TempDatabase()
        let space = Keyspace(temp.database, prefix: Keyspace.db)
        let reader = DBReader(space: space, thread: thread, snapshot: nil)
        var applier = Applier(reader: reader)
        for event in events {
            try applier.apply(event.event, clock: event.clock, log: event.log)
            if random.below(4) == 0 {
                try temp.database.write(try applier.batch(in: space))
                applier = Applier(reader: reader)
            }
        }
        try temp.database.write(try applier.batch(in: space))
        return (temp, reader)
    }

    /// Everything a reader shows: definitions and instances of both collections.
    static func state(_ reader: DBReader) throws -> [String: JSON] {
        var out: [String: JSON] = [:]
        for definition in try reader.collections() {
            out[definition.name] = .object([
                "definition": definition.json, "instances": .array(try reader.find(definition.name)),
            ])
        }
        return out
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func anyOrderWithDuplicatesGivesTheSameState(seed: UInt64) throws {
        let thread = ThreadID(variant: .raw)
        // Both collections are defined first in some event, so every replica shows them.
        var events = Self.events(seed: seed, count: 60)
        var random = SeededGenerator(seed: seed &* 7919)
        let logs = Set(events.map(\.log)).sorted()
        events.append(
            (
                DBEvent(actions: [.collection(Self.definition("people", &random))]),
                HLCTimestamp(wall: 1, counter: 0), logs[0]
            )
        )
        events.append(
            (
                DBEvent(actions: [.collection(Self.definition("things", &random))]),
                HLCTimestamp(wall: 1, counter: 0), logs[1]
            )
        )
        let (first, reference) = try Self.replica(events, thread: thread, random: &random)
        let expected = try Self.state(reference)
        let digest = try reference.digest()
        #expect(expected.count == 2)
        for _ in 0..<6 {
            var shuffled = events.shuffled(using: &random)
            // Duplicates: some events arrive twice (at random places).
            for _ in 0..<10 { shuffled.insert(events[random.below(events.count)], at: random.below(shuffled.count)) }
            let (temp, reader) = try Self.replica(shuffled, thread: thread, random: &random)
            #expect(try Self.state(reader) == expected)
            #expect(try reader.digest() == digest)
            try Self.expectIndexesMatchScans(reader)
            _ = temp
        }
        _ = first
    }

    /// Every indexed field: equality and range queries through the index give what a scan gives.
    static func expectIndexesMatchScans(_ reader: DBReader) throws {
        for definition in try reader.collections() {
            let all = try reader.find(definition.name)
            for path in definition.indexes {
                var probes: [JSON] = []
                for instance in all { if let value = instance.value(at: path) { probes.append(value) } }
                probes += [.number(1), .string("bob"), .bool(true)]
                for probe in probes {
                    for filter in [
                        JSON.object([path.description: probe]),
                        .object([path.description: .object(["$gte": probe])]),
                        .object([path.description: .object(["$lt": probe])]),
                    ] {
                        guard let query = try? Query(.object(["filter": filter])) else { continue }
                        let explained = try reader.explain(definition.name, query)
                        let scanned = query.run(over: all)
                        #expect(try reader.find(definition.name, query) == scanned, "\(filter)")
                        if case .string = probe { #expect(explained.index == path.description, "\(filter)") }
                    }
                }
            }
        }
    }

    @Test func deleteBeatsOlderAndConcurrentSavesAndCreateReplaces() throws {
        let temp = try TempDatabase()
        let thread = ThreadID(variant: .raw)
        let space = Keyspace(temp.database, prefix: Keyspace.db)
        let reader = DBReader(space: space, thread: thread, snapshot: nil)
        let log = Ed25519.PrivateKey().publicKey.peerID
        func apply(_ wall: UInt64, _ actions: [DBEvent.Action]) throws {
            var applier = Applier(reader: reader)
            try applier.apply(DBEvent(actions: actions), clock: HLCTimestamp(wall: wall, counter: 0), log: log)
            try temp.database.write(try applier.batch(in: space))
        }
        try apply(1, [.collection(try CollectionDefinition(name: "c", schema: JSONSchema(true)))])
        try apply(10, [.create(collection: "c", id: "a", fields: ["x": 1, "y": 1])])
        // A save stamped before the delete, applied after it: the instance stays deleted.
        try apply(30, [.delete(collection: "c", id: "a")])
        try apply(20, [.save(collection: "c", id: "a", set: ["x": 2], unset: [])])
        #expect(try reader.get("c", id: "a") == nil)
        // A save after the delete does not revive it either.
        try apply(40, [.save(collection: "c", id: "a", set: ["x": 3], unset: [])])
        #expect(try reader.get("c", id: "a") == nil)
        // A create after the delete does, with its own fields and the later save's.
        try apply(35, [.create(collection: "c", id: "a", fields: ["z": 1])])
        #expect(try reader.get("c", id: "a") == ["_id": "a", "z": 1, "x": 3])
        // An older create changes nothing; unsetting removes a field.
        try apply(5, [.create(collection: "c", id: "a", fields: ["w": 1])])
        try apply(50, [.save(collection: "c", id: "a", set: [:], unset: ["z"])])
        #expect(try reader.get("c", id: "a") == ["_id": "a", "x": 3])
    }

    @Test func eventsRoundTripAndUnknownVersionsAreRefused() throws {
        let event = DBEvent(actions: [
            .collection(
                try CollectionDefinition(name: "c", schema: JSONSchema(["type": "object"]), indexes: [FieldPath("a.b")])
            ),
            .create(collection: "c", id: "1", fields: ["a": ["b": 1.5], "s": "x"]),
            .save(collection: "c", id: "1", set: ["n": nil], unset: ["s"]),
            .delete(collection: "c", id: "1"),
        ])
        #expect(try DBEvent(decoding: event.encoded) == event)
        #expect(try DBEvent(decoding: Array("{\"not\":\"a db event\"}".utf8)) == nil)
        let future = try DagCBOR.encode(["db": 2, "actions": []])
        #expect(throws: DBError.self) { try DBEvent(decoding: future) }
    }
    /// Event bodies come from other writers: mangled ones are refused with a typed error or not
    /// taken for database events, and whatever decodes round-trips and applies without harm to
    /// the instances already stored.
    @Test func mangledEventsAreRefusedOrApplyCleanly() throws {
        var random = SeededGenerator(seed: 56)
        let temp = try TempDatabase()
        let thread = ThreadID(variant: .raw)
        let space = Keyspace(temp.database, prefix: Keyspace.db)
        let reader = DBReader(space: space, thread: thread, snapshot: nil)
        let log = Ed25519.PrivateKey().publicKey.peerID
        var applier = Applier(reader: reader)
        try applier.apply(
            DBEvent(actions: [
                .collection(try CollectionDefinition(name: "keep", schema: JSONSchema(true))),
                .create(collection: "keep", id: "k", fields: ["v": 1]),
            ]),
            clock: HLCTimestamp(wall: 1_000_000, counter: 0),
            log: log
        )
        try temp.database.write(try applier.batch(in: space))
        let samples = Self.events(seed: 57, count: 40).map(\.event.encoded)
        var decoded = 0
        for round in 0..<4000 {
            let event: DBEvent?
            do {
                event = try DBEvent(decoding: random.mangled(samples[round % samples.count]))
            } catch {
                continue  // typed throws: a DBError
            }
            guard let event else { continue }
            decoded += 1
            #expect(try DBEvent(decoding: event.encoded) == event)
            // Stamped before the stored instance, so they cannot overwrite or delete it.
            var applier = Applier(reader: reader)
            do {
                try applier.apply(event, clock: HLCTimestamp(wall: UInt64(round), counter: 0), log: log)
                try temp.database.write(try applier.batch(in: space))
            } catch {
                #expect(error is DBError || error is StoreError)
            }
        }
        #expect(decoded > 0)
        #expect(try reader.get("keep", id: "k") == ["_id": "k", "v": 1])
    }
}
