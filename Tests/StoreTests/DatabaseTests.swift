import Foundation
import Store
import Testing

@Suite struct DatabaseTests {
    @Test func putGetDeleteAndEmptyValues() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path)
        try db.put(bytes("a"), bytes("1"))
        try db.put(bytes("empty"), [])
        #expect(try db.get(bytes("a")) == bytes("1"))
        #expect(try db.get(bytes("empty")) == [])  // an empty value is not "not found"
        #expect(try db.get(bytes("missing")) == nil)
        try db.delete(bytes("a"))
        #expect(try db.get(bytes("a")) == nil)
        try db.delete(bytes("never-there"))
    }

    @Test func valuesSurviveReopen() throws {
        let dir = TempDir()
        do {
            let db = try Database(path: dir.path)
            try db.put(bytes("k"), bytes("v"), sync: true)
            db.close()
            #expect(throws: StoreError.closed(path: dir.path)) { try db.get(bytes("k")) }
        }
        let again = try Database(path: dir.path, options: .init(createIfMissing: false))
        #expect(try again.get(bytes("k")) == bytes("v"))
    }

    @Test func secondOpenIsALockError() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path)
        #expect(throws: StoreError.locked(path: dir.path)) { try Database(path: dir.path) }
        #expect(StoreError.locked(path: dir.path).description.contains("in use by another process"))
        db.close()
        _ = try Database(path: dir.path)  // free again once closed
    }

    @Test func missingDatabaseIsNotCreatedWhenNotAsked() throws {
        let dir = TempDir()
        #expect(throws: StoreError.self) { try Database(path: dir.sub("nope"), options: .init(createIfMissing: false)) }
        #expect(!FileManager.default.fileExists(atPath: dir.sub("nope") + "/CURRENT"))
    }

    @Test func batchesAreAtomic() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path)
        try db.put(bytes("x"), bytes("old"))
        let before = try db.snapshot()
        var batch = WriteBatch()
        batch.put(bytes("x"), bytes("new"))
        batch.put(bytes("y"), bytes("1"))
        batch.delete(bytes("z"))
        try db.write(batch, sync: true)
        #expect(try before.get(bytes("x")) == bytes("old"))  // the snapshot sees none of it
        #expect(try before.get(bytes("y")) == nil)
        #expect(try db.get(bytes("x")) == bytes("new"))
        #expect(try db.get(bytes("y")) == bytes("1"))
        // A batch that fails (closed store) writes nothing.
        db.close()
        var failing = WriteBatch()
        failing.put(bytes("w"), bytes("1"))
        #expect(throws: StoreError.self) { try db.write(failing) }
    }

    @Test func iterationOrderAndPrefixIsolation() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path)
        let users = Keyspace(db, prefix: "/users/")
        let usersX = Keyspace(db, prefix: "/usersx/")
        for name in ["carol", "alice", "bob", "al"] { try users.put(bytes(name), bytes(name.uppercased())) }
        try usersX.put(bytes("mallory"), bytes("M"))
        try db.put(bytes("/users"), bytes("no slash"))
        let all = try users.scan()
        #expect(all.map { String(decoding: $0.key, as: UTF8.self) } == ["al", "alice", "bob", "carol"])
        #expect(all.map(\.value) == [bytes("AL"), bytes("ALICE"), bytes("BOB"), bytes("CAROL")])
        #expect(try users.scan(prefix: bytes("al")).count == 2)
        #expect(try usersX.scan().count == 1)
        var seen = 0
        try users.forEach { _, _ in
            seen += 1
            return seen < 2
        }
        #expect(seen == 2)
    }

    @Test func rangeScanStartsAtAKeyStaysInItsPrefixAndStopsAtTheLimit() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path)
        let users = Keyspace(db, prefix: "/users/")
        for name in ["al", "alice", "alma", "bob", "carol"] { try users.put(bytes(name), bytes(name.uppercased())) }
        let names = { (found: [(key: [UInt8], value: [UInt8])]) in found.map { String(decoding: $0.key, as: UTF8.self) }
        }
        #expect(names(try users.scan(prefix: bytes("al"), from: bytes("alb"), limit: 10)) == ["alice", "alma"])
        #expect(names(try users.scan(prefix: bytes("al"), from: bytes("al"), limit: 2)) == ["al", "alice"])
        // A start before the prefix begins at the prefix; one past it finds nothing.
        #expect(names(try users.scan(prefix: bytes("b"), from: bytes("a"), limit: 10)) == ["bob"])
        #expect(try users.scan(prefix: bytes("al"), from: bytes("am"), limit: 10).isEmpty)
        #expect(
            try users.scan(prefix: [], from: bytes("bob"), limit: 10).map(\.value) == [bytes("BOB"), bytes("CAROL")]
        )
    }

    @Test func snapshotIterationIgnoresLaterWrites() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path)
        let space = Keyspace(db, prefix: "/s/")
        try space.put([1], [1])
        let snapshot = try db.snapshot()
        try space.put([2], [2])
        #expect(try space.scan(snapshot: snapshot).count == 1)
        #expect(try space.scan().count == 2)
    }

    @Test func closeWaitsForLiveIterators() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path)
        for i in 0..<10 { try db.put([UInt8(i)], [UInt8(i)]) }
        let iterator = try db.scan()
        db.close()
        // The iterator keeps the handle alive until it finishes.
        var count = 0
        while iterator.next() != nil { count += 1 }
        #expect(count == 10)
    }

    @Test func concurrentReadersWithOneWriter() async throws {
        let dir = TempDir()
        let db = try Database(path: dir.path)
        let space = Keyspace(db, prefix: "/c/")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for i in 0..<2000 {
                    var batch = WriteBatch()
                    // Two keys always written together: readers must never see them differ.
                    space.put(bytes("a"), bytes(String(i)), in: &batch)
                    space.put(bytes("b"), bytes(String(i)), in: &batch)
                    try db.write(batch)
                }
            }
            for _ in 0..<3 {
                group.addTask {
                    for _ in 0..<2000 {
                        let snapshot = try db.snapshot()
                        #expect(
                            try space.get(bytes("a"), snapshot: snapshot) == space.get(bytes("b"), snapshot: snapshot)
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try space.get(bytes("a")) == bytes("1999"))
    }

    @Test func approximateSizeGrowsWithData() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path)
        for i in 0..<2000 { try db.put(bytes("k\(i)"), [UInt8](repeating: UInt8(i % 251), count: 1000)) }
        try db.compact()
        #expect(try db.approximateSize(from: bytes("k"), to: bytes("l")) > 100_000)
        #expect(try db.approximateSize(from: bytes("x"), to: bytes("y")) == 0)
    }
}
