import Multiformats

/// Reads strict DAG-CBOR from a buffer; every read is bounds-checked and every length is checked
/// against the bytes that remain before anything is allocated.
struct CBORReader {
    let buffer: UnsafeBufferPointer<UInt8>
    var offset = 0

    init(_ buffer: UnsafeBufferPointer<UInt8>, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    private var remaining: Int { buffer.count - offset }

    /// Runs `body` on a reader over `bytes` from `offset`: what it read (or the error it threw),
    /// and where it stopped.
    static func reading<R>(
        _ bytes: [UInt8],
        from offset: Int = 0,
        _ body: (inout CBORReader) throws(DagCBORError) -> R
    ) -> (result: Result<R, DagCBORError>, end: Int) {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = CBORReader(buffer, offset: offset)
            do throws(DagCBORError) {
                return (.success(try body(&reader)), reader.offset)
            } catch {
                return (.failure(error), reader.offset)
            }
        }
    }

    /// Reads all of `bytes` with `body`, which must read one item (`what`) and leave nothing after it.
    static func readingWhole<R>(
        _ bytes: [UInt8],
        _ what: String,
        _ body: (inout CBORReader) throws(DagCBORError) -> R
    ) throws(DagCBORError) -> R {
        try reading(bytes) { reader throws(DagCBORError) in
            let value = try body(&reader)
            guard reader.offset == reader.buffer.count else {
                throw reader.fail(.trailingBytes, "unexpected bytes after the \(what)")
            }
            return value
        }.result.get()
    }

    func fail(_ kind: DagCBORError.Kind, _ reason: String, at position: Int? = nil) -> DagCBORError {
        DagCBORError(kind, codec: "dag-cbor", offset: position ?? offset, reason)
    }

    mutating func byte() throws(DagCBORError) -> UInt8 {
        guard offset < buffer.count else { throw fail(.truncated, "input ends inside a value") }
        defer { offset += 1 }
        return buffer[offset]
    }

    private mutating func bigEndian(_ count: Int) throws(DagCBORError) -> UInt64 {
        guard remaining >= count else { throw fail(.truncated, "input ends inside a \(count)-byte argument") }
        var value: UInt64 = 0
        for i in 0..<count { value = value << 8 | UInt64(buffer[offset + i]) }
        offset += count
        return value
    }

    /// The argument of a head whose initial byte (at `start`) had `info` in its low 5 bits.
    mutating func argument(_ info: UInt8, start: Int) throws(DagCBORError) -> UInt64 {
        switch info {
        case 0..<24:
            return UInt64(info)
        case 24:
            let v = try bigEndian(1)
            guard v >= 24 else {
                throw fail(.invalid, "non-minimal argument (\(v) fits in the initial byte)", at: start)
            }
            return v
        case 25:
            let v = try bigEndian(2)
            guard v > 0xff else { throw fail(.invalid, "non-minimal argument (\(v) fits in 1 byte)", at: start) }
            return v
        case 26:
            let v = try bigEndian(4)
            guard v > 0xffff else { throw fail(.invalid, "non-minimal argument (\(v) fits in 2 bytes)", at: start) }
            return v
        case 27:
            let v = try bigEndian(8)
            guard v > 0xffff_ffff else {
                throw fail(.invalid, "non-minimal argument (\(v) fits in 4 bytes)", at: start)
            }
            return v
        case 31:
            throw fail(.invalid, "indefinite-length items are not allowed", at: start)
        default:
            throw fail(.invalid, "reserved additional information \(info)", at: start)
        }
    }

    /// A length that must fit in what remains, given the fewest bytes each element takes.
    mutating func length(_ info: UInt8, start: Int, bytesPerElement: Int, what: String) throws(DagCBORError)
        -> Int
    {
        let declared = try argument(info, start: start)
        guard declared <= UInt64(remaining / bytesPerElement) else {
            throw fail(
                .truncated,
                "\(what) declares \(declared) \(bytesPerElement == 1 ? "bytes" : "elements") but only \(remaining) bytes remain",
                at: start
            )
        }
        return Int(declared)
    }

    mutating func read(depth: Int) throws(DagCBORError) -> IPLD {
        let start = offset
        let initial = try byte()
        let major = initial >> 5
        let info = initial & 0x1f
        switch major {
        case 0:
            return .integer(IPLDInteger(isNegative: false, argument: try argument(info, start: start)))
        case 1:
            return .integer(IPLDInteger(isNegative: true, argument: try argument(info, start: start)))
        case 2:
            return .bytes(try readBytes(info, start: start))
        case 3:
            return .string(try readString(info, start: start))
        case 4:
            guard depth < DagCBOR.Limits.maxDepth else {
                throw fail(.tooDeep, "nesting deeper than \(DagCBOR.Limits.maxDepth) levels", at: start)
            }
            let count = try length(info, start: start, bytesPerElement: 1, what: "list")
            var items: [IPLD] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try read(depth: depth + 1)) }
            return .list(items)
        case 5:
            guard depth < DagCBOR.Limits.maxDepth else {
                throw fail(.tooDeep, "nesting deeper than \(DagCBOR.Limits.maxDepth) levels", at: start)
            }
            let count = try length(info, start: start, bytesPerElement: 2, what: "map")
            var entries: [String: IPLD] = [:]
            entries.reserveCapacity(count)
            var previous: (start: Int, end: Int)? = nil
            for _ in 0..<count {
                let keyStart = offset
                let keyInitial = try byte()
                guard keyInitial >> 5 == 3 else { throw fail(.invalid, "map key is not a string", at: keyStart) }
                let keyLength = try length(keyInitial & 0x1f, start: keyStart, bytesPerElement: 1, what: "map key")
                let keyBytes = (offset, offset + keyLength)
                // Keys must be strictly increasing in length-first order: this rejects both unsorted
                // and duplicate keys.
                if let previous {
                    let order = CBORReader.compareKeys(buffer, previous, keyBytes)
                    if order == 0 { throw fail(.invalid, "duplicate map key \"\(string(keyBytes))\"", at: keyStart) }
                    if order > 0 {
                        throw fail(
                            .invalid,
                            "map keys out of order (\"\(string(keyBytes))\" after \"\(string(previous))\")",
                            at: keyStart
                        )
                    }
                }
                guard
                    let key = String(
                        validating: UnsafeBufferPointer(rebasing: buffer[keyBytes.0..<keyBytes.1]),
                        as: UTF8.self
                    )
                else {
                    throw fail(.invalid, "map key is not valid UTF-8", at: keyStart)
                }
                offset = keyBytes.1
                previous = keyBytes
                entries[key] = try read(depth: depth + 1)
            }
            return .map(entries)
        case 6:
            return .link(try readLink(info, start: start))
        default:
            switch info {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            case 27:
                let d = Double(bitPattern: try bigEndian(8))
                guard d.isFinite else { throw fail(.unrepresentable, "NaN and infinities are not allowed", at: start) }
                return .float(d)
            case 25, 26:
                throw fail(.invalid, "floats must be encoded in 64 bits, not \(info == 25 ? 16 : 32)", at: start)
            case 23:
                throw fail(.invalid, "undefined is not allowed", at: start)
            case 31:
                throw fail(.invalid, "unexpected break code", at: start)
            default:
                throw fail(.invalid, "simple value \(info) is not allowed", at: start)
            }
        }
    }

    /// Reads the initial byte of an item that must be of major type `major`; returns its low 5
    /// bits and where it started.
    mutating func head(major: UInt8, _ what: String) throws(DagCBORError) -> (info: UInt8, start: Int) {
        let start = offset
        let initial = try byte()
        guard initial >> 5 == major else { throw fail(.invalid, "expected \(what)", at: start) }
        return (initial & 0x1f, start)
    }

    /// The CID of a link whose tag head (initial byte at `start`) had `info` in its low 5 bits.
    mutating func readLink(_ info: UInt8, start: Int) throws(DagCBORError) -> CID {
        let tag = try argument(info, start: start)
        guard tag == 42 else { throw fail(.invalid, "tag \(tag) is not allowed (only 42, links)", at: start) }
        let contentStart = offset
        let content = try byte()
        guard content >> 5 == 2 else { throw fail(.invalid, "tag 42 must wrap a byte string", at: contentStart) }
        let count = try length(content & 0x1f, start: contentStart, bytesPerElement: 1, what: "byte string")
        guard count > 0, buffer[offset] == 0x00 else {
            throw fail(.invalid, "a link's bytes must start with the 0x00 multibase prefix", at: contentStart)
        }
        defer { offset += count }
        do {
            return try CID(bytes: [UInt8](UnsafeBufferPointer(rebasing: buffer[offset + 1..<offset + count])))
        } catch {
            throw fail(.invalid, "invalid CID in link: \(error)", at: contentStart)
        }
    }

    mutating func readBytes(_ info: UInt8, start: Int) throws(DagCBORError) -> [UInt8] {
        let count = try length(info, start: start, bytesPerElement: 1, what: "byte string")
        let out = Array(buffer[offset..<offset + count])
        offset += count
        return out
    }

    private mutating func readString(_ info: UInt8, start: Int) throws(DagCBORError) -> String {
        let count = try length(info, start: start, bytesPerElement: 1, what: "string")
        guard let s = String(validating: UnsafeBufferPointer(rebasing: buffer[offset..<offset + count]), as: UTF8.self)
        else {
            throw fail(.invalid, "string is not valid UTF-8", at: start)
        }
        offset += count
        return s
    }

    private func string(_ range: (Int, Int)) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: buffer[range.0..<range.1]), as: UTF8.self)
    }

    /// Compares two keys in DAG-CBOR order: negative when `a` sorts first, zero when equal.
    static func compareKeys(_ buffer: UnsafeBufferPointer<UInt8>, _ a: (Int, Int), _ b: (Int, Int)) -> Int {
        let al = a.1 - a.0
        let bl = b.1 - b.0
        if al != bl { return al < bl ? -1 : 1 }
        for i in 0..<al where buffer[a.0 + i] != buffer[b.0 + i] {
            return buffer[a.0 + i] < buffer[b.0 + i] ? -1 : 1
        }
        return 0
    }
}
