import Multiformats

/// One message of `/threads/exchange/1`: want-list changes, block presences and blocks, in the
/// compact binary layout of Specs/exchange.md (a byte-string-heavy message would only be copied
/// more by a generic codec).
public struct ExchangeMessage: Sendable, Equatable {
    public enum WantKind: UInt8, Sendable {
        case wantHave = 0
        case wantBlock = 1
        case cancel = 2
    }

    public struct Want: Sendable, Equatable {
        public var cid: CID
        public var kind: WantKind
        /// Higher is served first.
        public var priority: UInt32
        /// Answer "dont-have" rather than staying silent when the block is missing.
        public var sendDontHave: Bool

        public init(cid: CID, kind: WantKind, priority: UInt32 = 0, sendDontHave: Bool = false) {
            self.cid = cid
            self.kind = kind
            self.priority = priority
            self.sendDontHave = sendDontHave
        }
    }

    public enum Presence: UInt8, Sendable {
        case have = 0
        case dontHave = 1
    }

    public static let version: UInt8 = 1
    /// Largest block carried (the transport's 4 MiB frames hold it with room to spare).
    public static let maxBlockSize = 2 << 20
    /// Most entries of each kind in one message.
    public static let maxEntries = 8192
    static let maxCIDLength = 128

    public var wants: [Want] = []
    public var presences: [(cid: CID, presence: Presence)] = []
    public var blocks: [(cid: CID, data: [UInt8])] = []

    public init(
        wants: [Want] = [],
        presences: [(cid: CID, presence: Presence)] = [],
        blocks: [(cid: CID, data: [UInt8])] = []
    ) {
        self.wants = wants
        self.presences = presences
        self.blocks = blocks
    }

    public var isEmpty: Bool { wants.isEmpty && presences.isEmpty && blocks.isEmpty }

    /// Encoded size of the blocks carried.
    public var blockBytes: Int { blocks.reduce(0) { $0 + $1.data.count } }

    public static func == (lhs: ExchangeMessage, rhs: ExchangeMessage) -> Bool {
        lhs.wants == rhs.wants && lhs.presences.map(\.cid) == rhs.presences.map(\.cid)
            && lhs.presences.map(\.presence) == rhs.presences.map(\.presence)
            && lhs.blocks.map(\.cid) == rhs.blocks.map(\.cid)
            && lhs.blocks.map(\.data) == rhs.blocks.map(\.data)
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = [Self.version]
        out.reserveCapacity(16 + blockBytes + 48 * (wants.count + presences.count + blocks.count))
        Varint.encode(UInt64(wants.count), into: &out)
        for want in wants {
            out.append(want.kind.rawValue)
            out.append(want.sendDontHave ? 1 : 0)
            Varint.encode(UInt64(want.priority), into: &out)
            Self.append(want.cid, to: &out)
        }
        Varint.encode(UInt64(presences.count), into: &out)
        for (cid, presence) in presences {
            out.append(presence.rawValue)
            Self.append(cid, to: &out)
        }
        Varint.encode(UInt64(blocks.count), into: &out)
        for (cid, data) in blocks {
            Self.append(cid, to: &out)
            Varint.encode(UInt64(data.count), into: &out)
            out.append(contentsOf: data)
        }
        return out
    }

    private static func append(_ cid: CID, to out: inout [UInt8]) {
        Varint.encode(UInt64(cid.bytes.count), into: &out)
        out.append(contentsOf: cid.bytes)
    }

    /// Parses a message. Every length is checked before it is used.
    public init(decoding bytes: [UInt8]) throws(ExchangeError) {
        var reader = Reader(bytes: bytes)
        let version = try reader.byte("version")
        guard version == Self.version else { throw .malformed("unknown version \(version)") }
        let wantCount = try reader.count("wants")
        for _ in 0..<wantCount {
            guard let kind = WantKind(rawValue: try reader.byte("want kind")) else {
                throw .malformed("unknown want kind")
            }
            let flags = try reader.byte("want flags")
            guard flags <= 1 else { throw .malformed("unknown want flags \(flags)") }
            let priority = try reader.varint("priority")
            guard priority <= UInt64(UInt32.max) else { throw .malformed("priority \(priority) too large") }
            wants.append(Want(cid: try reader.cid(), kind: kind, priority: UInt32(priority), sendDontHave: flags == 1))
        }
        let presenceCount = try reader.count("presences")
        for _ in 0..<presenceCount {
            guard let presence = Presence(rawValue: try reader.byte("presence")) else {
                throw .malformed("unknown presence")
            }
            presences.append((try reader.cid(), presence))
        }
        let blockCount = try reader.count("blocks")
        for _ in 0..<blockCount {
            let cid = try reader.cid()
            let length = try reader.varint("block length")
            guard length <= UInt64(Self.maxBlockSize) else {
                throw .malformed("block of \(length) bytes exceeds 2 MiB")
            }
            blocks.append((cid, try reader.take(Int(length), "block")))
        }
        guard reader.offset == bytes.count else { throw .malformed("\(bytes.count - reader.offset) trailing bytes") }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func byte(_ what: String) throws(ExchangeError) -> UInt8 {
            guard offset < bytes.count else { throw .malformed("truncated at \(what)") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func varint(_ what: String) throws(ExchangeError) -> UInt64 {
            do {
                let (value, length) = try Varint.decode(bytes[offset...])
                offset += length
                return value
            } catch {
                throw .malformed("bad varint for \(what) at byte \(offset)")
            }
        }

        mutating func count(_ what: String) throws(ExchangeError) -> Int {
            let value = try varint(what)
            guard value <= UInt64(ExchangeMessage.maxEntries) else {
                throw .malformed("\(value) \(what), at most \(ExchangeMessage.maxEntries)")
            }
            return Int(value)
        }

        mutating func take(_ length: Int, _ what: String) throws(ExchangeError) -> [UInt8] {
            guard length <= bytes.count - offset else { throw .malformed("truncated \(what)") }
            defer { offset += length }
            return Array(bytes[offset..<(offset + length)])
        }

        mutating func cid() throws(ExchangeError) -> CID {
            let length = try varint("CID length")
            guard length > 0, length <= UInt64(ExchangeMessage.maxCIDLength) else {
                throw .malformed("CID length \(length)")
            }
            let raw = try take(Int(length), "CID")
            do { return try CID(bytes: raw) } catch { throw .malformed("bad CID: \(error)") }
        }
    }
}
