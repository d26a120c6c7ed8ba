import DagCBOR
import Multiformats
import Sodium

/// The decrypted header of an event: the key of its body, when it was written, and its clock.
public struct EventHeader: Sendable, Equatable {
    public let bodyKey: SymmetricKey
    /// Wall time at the writer, milliseconds since the Unix epoch.
    public let time: UInt64
    public let clock: HLCTimestamp
}

/// One record of a log (Specs/threads.md): its place in the log and what it links to, as read
/// from a record block whose signature verified.
public struct ThreadRecord: Sendable, Equatable {
    /// The CID of the record block (the encrypted wrapper).
    public let cid: CID
    /// The log (writer) that signed it.
    public let log: PeerID
    /// 0 for a log's first record, then one more than `prev`'s.
    public let sequence: UInt64
    public let prev: CID?
    /// The event node (links to the encrypted header and body).
    public let event: CID
    /// The read-key epoch the event's header is encrypted with.
    public let epoch: UInt32
    /// An access-log entry (only in the owner's log of an access-controlled thread).
    public let acl: AccessEntry?
    public let signature: [UInt8]

    static let signatureDomain = Array("threads-record/1:".utf8)

    /// The blocks of one new record: record, event, header, body.
    public struct Blocks: Sendable {
        public let record: Block
        public let event: Block
        public let header: Block
        public let body: Block

        public var all: [Block] { [record, event, header, body] }
    }

    // MARK: - Writing

    /// Makes and signs a record appending `body` to the log of `logKey`. Needs the read key (the
    /// header is encrypted with it).
    public static func create(
        thread: ThreadID,
        key: ThreadKey,
        logKey: Ed25519.PrivateKey,
        prev: (cid: CID, sequence: UInt64)?,
        body: [UInt8],
        time: UInt64,
        clock: HLCTimestamp,
        acl: AccessEntry? = nil
    ) throws(ThreadsError) -> (record: ThreadRecord, blocks: Blocks) {
        guard let readKey = key.read else {
            throw .notAllowed("this node holds no read key for \(thread): it cannot write")
        }
        let (eventBlock, headerBlock, bodyBlock) = try makeEvent(
            thread: thread,
            readKey: readKey,
            body: body,
            time: time,
            clock: clock
        )
        let (record, recordBlock) = try makeRecord(
            thread: thread,
            key: key,
            logKey: logKey,
            prev: prev,
            event: eventBlock.cid,
            epoch: key.epoch,
            acl: acl
        )
        return (record, Blocks(record: recordBlock, event: eventBlock, header: headerBlock, body: bodyBlock))
    }

    /// The event, header and body blocks of a new event: all the encryption that does not depend
    /// on the log's state, so concurrent appends can do it at once.
    static func makeEvent(
        thread: ThreadID,
        readKey: SymmetricKey,
        body: [UInt8],
        time: UInt64,
        clock: HLCTimestamp
    ) throws(ThreadsError) -> (event: Block, header: Block, body: Block) {
        let bodyKey = SymmetricKey()
        let bodyBlock = try sealedBlock(body, key: bodyKey, thread: thread)
        // {key, time, wall, counter}, written in DAG-CBOR key order.
        var header = DagCBORMapWriter(count: 4)
        header.key("key")
        header.bytes(bodyKey.withUnsafeBytes { Array($0) })
        header.key("time")
        header.unsigned(time)
        header.key("wall")
        header.unsigned(clock.wall)
        header.key("counter")
        header.unsigned(UInt64(clock.counter))
        let headerBlock = try sealedBlock(header.encoded, key: readKey, thread: thread)
        let eventBlock = try block(encoded: eventBytes(header: headerBlock.cid, body: bodyBlock.cid))
        return (eventBlock, headerBlock, bodyBlock)
    }

    /// An event node's bytes: `{body: link, header: link}`, the only form `eventLinks` accepts, so
    /// a stored event can be rebuilt from its two links.
    static func eventBytes(header: CID, body: CID) -> [UInt8] {
        var event = DagCBORMapWriter(count: 2)
        event.key("body")
        event.link(body)
        event.key("header")
        event.link(header)
        return event.encoded
    }

    /// Signs and seals the record that appends `event` after `prev`: the part of an append that
    /// must follow the log's order.
    static func makeRecord(
        thread: ThreadID,
        key: ThreadKey,
        logKey: Ed25519.PrivateKey,
        prev: (cid: CID, sequence: UInt64)?,
        event: CID,
        epoch: UInt32,
        acl: AccessEntry?
    ) throws(ThreadsError) -> (ThreadRecord, Block) {
        let sequence = prev.map { $0.sequence + 1 } ?? 0
        let log = logKey.publicKey.rawRepresentation
        let aclValue = acl?.ipld
        // The same fields twice: without the signature (what is signed), then with it.
        func map(signature: [UInt8]?) throws(ThreadsError) -> [UInt8] {
            try recordMap(
                thread: thread,
                log: log,
                sequence: sequence,
                prev: prev?.cid,
                event: event,
                epoch: epoch,
                acl: aclValue,
                signature: signature
            )
        }
        let signature = logKey.signature(for: signatureDomain + (try map(signature: nil)))
        let signed = try map(signature: signature)
        let recordBlock = try sealedBlock(signed, key: key.service, thread: thread)
        let record = ThreadRecord(
            cid: recordBlock.cid,
            log: logKey.publicKey.peerID,
            sequence: sequence,
            prev: prev?.cid,
            event: event,
            epoch: epoch,
            acl: acl,
            signature: signature
        )
        return (record, recordBlock)
    }

    /// A record's map in DAG-CBOR: without `signature`, the bytes the signature covers; with it,
    /// the record as sealed. Written in DAG-CBOR key order: acl, log, seq, sig, prev, epoch,
    /// event, thread.
    static func recordMap(
        thread: ThreadID,
        log: [UInt8],
        sequence: UInt64,
        prev: CID?,
        event: CID,
        epoch: UInt32,
        acl: IPLD?,
        signature: [UInt8]?
    ) throws(ThreadsError) -> [UInt8] {
        var map = DagCBORMapWriter(count: 6 + (acl == nil ? 0 : 1) + (signature == nil ? 0 : 1))
        if let acl {
            map.key("acl")
            do { try map.value(acl) } catch { throw .malformed("cannot encode the access entry: \(error)") }
        }
        map.key("log")
        map.bytes(log)
        map.key("seq")
        map.unsigned(sequence)
        if let signature {
            map.key("sig")
            map.bytes(signature)
        }
        map.key("prev")
        if let prev { map.link(prev) } else { map.null() }
        map.key("epoch")
        map.unsigned(UInt64(epoch))
        map.key("event")
        map.link(event)
        map.key("thread")
        map.bytes(thread.bytes)
        return map.encoded
    }

    // MARK: - Reading

    /// Opens a record block of `thread` with the service key and verifies the log's signature over
    /// everything in it (the thread, log, sequence, previous record and event).
    public static func open(_ block: Block, thread: ThreadID, key: ThreadKey) throws(ThreadsError) -> ThreadRecord {
        guard block.cid.codec == Multicodec.dagCBOR else { throw .malformed("a record block is DAG-CBOR") }
        let plaintext = try unseal(block, key: key.service, thread: thread, what: "record")
        let fields: Fields
        do { fields = try Fields(plaintext) } catch {
            throw .malformed(
                "the record is not a map of exactly thread, log, seq, prev, event, epoch, sig (and acl): \(error)"
            )
        }
        guard fields.epoch <= UInt64(ThreadKey.maxEpochs) else {
            throw .malformed("'epoch' is not a small unsigned integer")
        }
        let acl = try fields.acl.map { value throws(ThreadsError) in try AccessEntry(ipld: value) }
        guard fields.thread == thread.bytes else { throw .brokenChain("the record belongs to another thread") }
        guard let logKey = try? Ed25519.PublicKey(rawRepresentation: fields.log) else {
            throw .malformed("'log' is not an Ed25519 public key")
        }
        guard (fields.prev == nil) == (fields.sequence == 0) else {
            throw .brokenChain("record \(fields.sequence) \(fields.prev == nil ? "has no" : "has a") previous record")
        }
        guard fields.signature.count == Ed25519.signatureLength else {
            throw .malformed("'sig' is not a 64-byte signature")
        }
        // The reader accepts canonical bytes only, so the fields re-encoded without the signature
        // are exactly the bytes that were signed.
        let signedBytes = try recordMap(
            thread: thread,
            log: fields.log,
            sequence: fields.sequence,
            prev: fields.prev,
            event: fields.event,
            epoch: UInt32(fields.epoch),
            acl: fields.acl,
            signature: nil
        )
        guard logKey.isValidSignature(fields.signature, for: signatureDomain + signedBytes) else {
            throw .badSignature(log: logKey.peerID)
        }
        return ThreadRecord(
            cid: block.cid,
            log: logKey.peerID,
            sequence: fields.sequence,
            prev: fields.prev,
            event: fields.event,
            epoch: UInt32(fields.epoch),
            acl: acl,
            signature: fields.signature
        )
    }

    /// A record's fields as they decode, in the map's key order (acl, log, seq, sig, prev, epoch,
    /// event, thread): a map with any other keys is refused.
    private struct Fields {
        var acl: IPLD?
        var log: [UInt8]
        var sequence: UInt64
        var signature: [UInt8]
        var prev: CID?
        var epoch: UInt64
        var event: CID
        var thread: [UInt8]

        init(_ bytes: [UInt8]) throws(DagCBORError) {
            var map = try DagCBORMapReader(bytes)
            if map.count == 8 {
                try map.key("acl")
                acl = try map.value()
            }
            try map.key("log")
            log = try map.bytes()
            try map.key("seq")
            sequence = try map.unsigned()
            try map.key("sig")
            signature = try map.bytes()
            try map.key("prev")
            prev = try map.linkOrNull()
            try map.key("epoch")
            epoch = try map.unsigned()
            try map.key("event")
            event = try map.link()
            try map.key("thread")
            thread = try map.bytes()
            try map.end()
        }
    }

    /// The header and body links of an event node.
    public static func eventLinks(_ block: Block) throws(ThreadsError) -> (header: CID, body: CID) {
        do {
            var map = try DagCBORMapReader(block.bytes)
            try map.key("body")
            let body = try map.link()
            try map.key("header")
            let header = try map.link()
            try map.end()
            return (header, body)
        } catch {
            throw .malformed("an event node is {header: link, body: link}: \(error)")
        }
    }

    /// Decrypts an event header with the read key.
    public static func openHeader(_ block: Block, thread: ThreadID, key: ThreadKey, epoch: UInt32) throws(ThreadsError)
        -> EventHeader
    {
        guard let readKey = key.readKey(epoch: epoch) else {
            throw .notAllowed("this node holds no read key of epoch \(epoch) for \(thread): it cannot read this record")
        }
        let plaintext = try unseal(block, key: readKey, thread: thread, what: "event header")
        let raw: [UInt8]
        let time: UInt64
        let wall: UInt64
        let counter: UInt64
        do {
            var map = try DagCBORMapReader(plaintext)
            try map.key("key")
            raw = try map.bytes()
            try map.key("time")
            time = try map.unsigned()
            try map.key("wall")
            wall = try map.unsigned()
            try map.key("counter")
            counter = try map.unsigned()
            try map.end()
        } catch {
            throw .malformed("the event header does not have exactly key, time, wall, counter: \(error)")
        }
        guard let bodyKey = try? SymmetricKey(bytes: raw), counter <= UInt64(UInt32.max) else {
            throw .malformed("the event header's key or counter is out of range")
        }
        return EventHeader(bodyKey: bodyKey, time: time, clock: HLCTimestamp(wall: wall, counter: UInt32(counter)))
    }

    /// Decrypts an event body with the key from its header.
    public static func openBody(_ block: Block, header: EventHeader, thread: ThreadID) throws(ThreadsError) -> [UInt8] {
        try unseal(block, key: header.bodyKey, thread: thread, what: "event body")
    }

    // MARK: - Helpers

    /// `plaintext` sealed with `key` (XChaCha20-Poly1305, the thread as associated data), as a
    /// DAG-CBOR block holding the sealed bytes.
    static func sealedBlock(_ plaintext: [UInt8], key: SymmetricKey, thread: ThreadID) throws(ThreadsError) -> Block {
        try block(
            encoded: DagCBOR.encode(bytes: XChaCha20Poly1305.seal(plaintext, key: key, associatedData: thread.bytes))
        )
    }

    /// The plaintext of a block made by `sealedBlock`.
    static func unseal(_ block: Block, key: SymmetricKey, thread: ThreadID, what: String) throws(ThreadsError)
        -> [UInt8]
    {
        guard let sealed = try? DagCBOR.decodeBytes(block.bytes) else {
            throw .malformed("the \(what) block is not a DAG-CBOR byte string")
        }
        do { return try XChaCha20Poly1305.open(sealed, key: key, associatedData: thread.bytes) } catch {
            throw .cannotDecrypt(what: what)
        }
    }

    /// A DAG-CBOR block of bytes already encoded.
    static func block(encoded bytes: [UInt8]) throws(ThreadsError) -> Block {
        do { return try Block(bytes: bytes, codec: DagCBOR.code) } catch { throw .malformed("cannot hash: \(error)") }
    }
}
