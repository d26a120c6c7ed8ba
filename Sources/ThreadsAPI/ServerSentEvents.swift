/// One event of a `text/event-stream` (Server-Sent Events).
public struct ServerSentEvent: Sendable, Equatable {
    /// The event name from the `event:` field, or nil for the default (`message`) type.
    public var event: String?
    /// The payload; several `data:` lines are joined with `\n`.
    public var data: String
    /// The last event ID seen on the stream, as the W3C model defines it: an `id:` field applies to its own event
    /// and every later one until the next `id:` field. Nil while no non-empty ID has been set.
    public var id: String?

    /// Creates an event.
    public init(event: String? = nil, data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }
}

/// An incremental parser for the W3C `text/event-stream` format.
///
/// Bytes can be fed in pieces of any size as they come off the network; a line ending or a UTF-8 sequence
/// split between two pieces is handled. Unknown fields and `retry:` are ignored.
public struct SSEParser: Sendable {
    /// Bytes of the line being received.
    private var line: [UInt8] = []
    /// A CR ended the previous line; an LF right after it belongs to the same line ending, even if it arrives in
    /// the next piece.
    private var afterCR = false
    /// The byte-order mark is only allowed at the very start of the stream.
    private var atStreamStart = true
    private var eventName = ""
    private var data = ""
    private var hasData = false
    private var lastEventID = ""

    /// Creates a parser at the start of a stream.
    public init() {}

    /// Consumes the next bytes of the stream and returns the events they complete, in order.
    public mutating func feed(_ bytes: [UInt8]) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\n"):
                if afterCR {
                    afterCR = false
                } else {
                    endLine(into: &events)
                }
            case UInt8(ascii: "\r"):
                afterCR = true
                endLine(into: &events)
            default:
                afterCR = false
                line.append(byte)
            }
        }
        return events
    }

    /// Produces the wire form of `event`, ending with the blank line that dispatches it.
    ///
    /// Line breaks in the data (`\n`, `\r\n` or `\r`) become separate `data:` lines, so they come back as `\n`
    /// after parsing. Line breaks in the name or ID cannot be represented and are removed.
    public static func encode(_ event: ServerSentEvent) -> String {
        var out = ""
        if let id = event.id {
            out += "id: \(singleLine(id))\n"
        }
        if let name = event.event {
            out += "event: \(singleLine(name))\n"
        }
        for line in lines(of: event.data) {
            out += "data: \(line)\n"
        }
        out += "\n"
        return out
    }

    private mutating func endLine(into events: inout [ServerSentEvent]) {
        defer { line.removeAll(keepingCapacity: true) }
        if atStreamStart {
            atStreamStart = false
            if line.starts(with: [0xEF, 0xBB, 0xBF]) {
                line.removeFirst(3)
            }
        }
        if line.isEmpty {
            if let event = dispatch() {
                events.append(event)
            }
            return
        }
        if line.first == UInt8(ascii: ":") {
            return
        }
        let field: [UInt8]
        var value: ArraySlice<UInt8>
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = Array(line[..<colon])
            value = line[(colon + 1)...]
            if value.first == UInt8(ascii: " ") {
                value = value.dropFirst()
            }
        } else {
            field = line
            value = []
        }
        let text = String(decoding: value, as: UTF8.self)
        switch String(decoding: field, as: UTF8.self) {
        case "event":
            eventName = text
        case "data":
            if hasData {
                data += "\n"
            }
            data += text
            hasData = true
        case "id":
            // The spec ignores IDs containing NUL so a hostile server cannot truncate the stored ID.
            if !value.contains(0) {
                lastEventID = text
            }
        default:
            break
        }
    }

    private mutating func dispatch() -> ServerSentEvent? {
        defer {
            eventName = ""
            data = ""
            hasData = false
        }
        // A block without data lines (only a name or an ID) dispatches nothing, per the spec.
        guard hasData else { return nil }
        return ServerSentEvent(
            event: eventName.isEmpty ? nil : eventName,
            data: data,
            id: lastEventID.isEmpty ? nil : lastEventID
        )
    }

    private static func singleLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { $0 != "\n" && $0 != "\r" }))
    }

    /// Splits on `\n`, `\r\n` and `\r`; the `Character` view cannot be used because it treats `\r\n` as one.
    private static func lines(of text: String) -> [String] {
        var result: [String] = []
        var current = String.UnicodeScalarView()
        var afterCR = false
        for scalar in text.unicodeScalars {
            if scalar == "\n" && afterCR {
                afterCR = false
                continue
            }
            afterCR = scalar == "\r"
            if scalar == "\n" || scalar == "\r" {
                result.append(String(current))
                current = String.UnicodeScalarView()
            } else {
                current.append(scalar)
            }
        }
        result.append(String(current))
        return result
    }
}
