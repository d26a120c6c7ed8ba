import DagCBOR
import Foundation
import Multiformats
import Store
import Testing

@Suite struct BlockstoreTests {
    static func block(_ text: String, codec: UInt64 = Multicodec.raw) throws -> Block {
        try Block(bytes: bytes(text), codec: codec)
    }

    @Test func putGetHasDeleteAndCounters() throws {
        let dir = TempDir()
        let store = Blockstore(database: try Database(path: dir.path))
        let a = try Self.block("alpha")
        let b = try Self.block("beta!")
        try store.put(a)
        try store.put([a, b, b], sync: true)  // duplicates are stored and counted once
        #expect(try store.has(a.cid) && store.has(b.cid))
        #expect(try store.get(a.cid) == a.bytes)
        #expect(try store.getData(a.cid, verify: true).map { [UInt8]($0) } == a.bytes)
        #expect(try store.getData(try Self.block("absent").cid) == nil)
        #expect(try store.size(of: b.cid) == 5)
        #expect(try store.count == 2)
        #expect(try store.totalSize == 10)
        #expect(try store.delete(a.cid))
        #expect(try !store.delete(a.cid))
        #expect(try store.get(a.cid) == nil)
        #expect(try store.count == 1)
        #expect(try store.totalSize == 5)
        #expect(try store.allCIDs() == [b.cid])
    }

    @Test func sameBytesUnderTwoCodecsAreTwoEntries() throws {
        let dir = TempDir()
        let store = Blockstore(database: try Database(path: dir.path))
        let node = try DagCBOR.encode(["a": 1])
        let asCBOR = try Block(bytes: node, codec: Multicodec.dagCBOR)
        let asRaw = try Block(bytes: node, codec: Multicodec.raw)
        try store.put([asCBOR, asRaw])
        #expect(try store.count == 2)
        #expect(try store.get(asRaw.cid) == node)
    }

    @Test func verifyOnReadCatchesTamperedBlocks() throws {
        let dir = TempDir()
        let db = try Database(path: dir.path)
        let store = Blockstore(database: db)
        let good = try Self.block("original")
        try store.put(good)
        // Overwrite the stored bytes behind the blockstore's back.
        try Keyspace(db, prefix: Keyspace.blocks).put(good.cid.bytes, bytes("tampered"))
        #expect(try store.get(good.cid) == bytes("tampered"))  // without verification: returned as stored
        #expect(throws: StoreError.corruptBlock(cid: good.cid.description)) { try store.get(good.cid, verify: true) }
        #expect(throws: StoreError.corruptBlock(cid: good.cid.description)) {
            try store.getData(good.cid, verify: true)
        }
    }

    @Test func countersSurviveReopen() throws {
        let dir = TempDir()
        do {
            let db = try Database(path: dir.path)
            try Blockstore(database: db).put([try Self.block("one"), try Self.block("two")], sync: true)
            db.close()
        }
        let store = Blockstore(database: try Database(path: dir.path))
        #expect(try store.count == 2)
        #expect(try store.totalSize == 6)
    }
}
