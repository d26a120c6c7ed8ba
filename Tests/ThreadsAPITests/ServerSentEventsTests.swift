import Testing

@testable import ThreadsAPI

@Suite("Server-Sent Events", .timeLimit(.minutes(5)))
struct ServerSentEventsTests {
    private func parse(_ text: String) -> [ServerSentEvent] {
        var parser = SSEParser()
        return parser.feed(Array(text.utf8))
    }

    /// Feeds the stream one byte at a time, the hardest split there is.
    private func parseBytewise(_ text: String) -> [ServerSentEvent] {
        var parser = SSEParser()
        return Array(text.utf8).flatMap { parser.feed([$0]) }
    }

    @Test func singleEvent() {
        #expect(parse("data: hello\n\n") == [ServerSentEvent(data: "hello")])
    }

    @Test func multiLineDataIsJoinedWithNewlines() {
        let events = parse("data: first\ndata: second\ndata:\ndata:  indented\n\n")
        #expect(events == [ServerSentEvent(data: "first\nsecond\n\n indented")])
    }

    @Test func eventNamesAndIDs() {
        let stream = "event: update\nid: 7\ndata: {\"n\":1}\n\nevent: ping\ndata: x\n\nid: 9\ndata: y\n\n"
        #expect(
            parse(stream) == [
                ServerSentEvent(event: "update", data: "{\"n\":1}", id: "7"),
                // The last event ID carries over to later events, as in the W3C model.
                ServerSentEvent(event: "ping", data: "x", id: "7"),
                ServerSentEvent(data: "y", id: "9"),
            ]
        )
    }

    @Test func emptyIDClearsLastEventID() {
        #expect(parse("id: 1\ndata: a\n\nid\ndata: b\n\n").map(\.id) == ["1", nil])
    }

    @Test func commentsAndUnknownFieldsAreIgnored() {
        let stream = ": keep-alive\n\n:another\nretry: 1000\nfoo: bar\ndata: real\n: inside\n\n"
        #expect(parse(stream) == [ServerSentEvent(data: "real")])
    }

    @Test func blockWithoutDataDispatchesNothing() {
        #expect(parse("event: lonely\n\ndata: next\n\n") == [ServerSentEvent(data: "next")])
    }

    @Test func fieldWithoutColonAndValueWithoutSpace() {
        #expect(parse("data\ndata:tight\n\n") == [ServerSentEvent(data: "\ntight")])
    }

    @Test func incompleteEventIsHeldBack() {
        var parser = SSEParser()
        #expect(parser.feed(Array("data: par".utf8)).isEmpty)
        #expect(parser.feed(Array("tial\n".utf8)).isEmpty)
        #expect(parser.feed(Array("\n".utf8)) == [ServerSentEvent(data: "partial")])
    }

    @Test(arguments: ["\n", "\r\n", "\r"])
    func lineEndings(ending: String) {
        let stream = ["event: e", "data: one", "data: two", "", "data: three", "", ""].joined(separator: ending)
        let expected = [ServerSentEvent(event: "e", data: "one\ntwo"), ServerSentEvent(data: "three")]
        #expect(parse(stream) == expected)
        #expect(parseBytewise(stream) == expected)
    }

    @Test func crlfSplitAcrossFeeds() {
        var parser = SSEParser()
        // A CR at the end of one piece and its LF at the start of the next must count as one line ending,
        // otherwise the LF would look like a blank line and dispatch early.
        #expect(parser.feed(Array("data: a\r".utf8)).isEmpty)
        #expect(parser.feed(Array("\ndata: b\r".utf8)).isEmpty)
        #expect(parser.feed(Array("\n\r".utf8)) == [ServerSentEvent(data: "a\nb")])
        #expect(parser.feed(Array("\n".utf8)).isEmpty)
        #expect(parser.feed(Array("data: c\r\n\r\n".utf8)) == [ServerSentEvent(data: "c")])
    }

    @Test func multiByteUTF8SplitAcrossFeeds() {
        var parser = SSEParser()
        let bytes = Array("data: héllo ✓\n\n".utf8)
        var events: [ServerSentEvent] = []
        for index in bytes.indices {
            events += parser.feed([bytes[index]])
        }
        #expect(events == [ServerSentEvent(data: "héllo ✓")])
    }

    @Test func leadingByteOrderMarkIsSkipped() {
        #expect(parse("\u{FEFF}data: x\n\n") == [ServerSentEvent(data: "x")])
    }

    @Test func encodeWireForm() {
        let event = ServerSentEvent(event: "update", data: "line1\nline2", id: "42")
        #expect(SSEParser.encode(event) == "id: 42\nevent: update\ndata: line1\ndata: line2\n\n")
        #expect(SSEParser.encode(ServerSentEvent(data: "")) == "data: \n\n")
        #expect(SSEParser.encode(ServerSentEvent(event: "a\nb", data: "x")) == "event: ab\ndata: x\n\n")
    }

    @Test(
        arguments: [
            ServerSentEvent(data: "plain"),
            ServerSentEvent(data: ""),
            ServerSentEvent(data: "\n"),
            ServerSentEvent(event: "named", data: "a\nb\n\nc", id: "id-1"),
            ServerSentEvent(data: " leading space and: colon", id: "2"),
            ServerSentEvent(event: "ünïcode", data: "日本語\n✓"),
            ServerSentEvent(data: ": looks like a comment"),
        ]
    )
    func encodeParseRoundTrip(event: ServerSentEvent) {
        #expect(parse(SSEParser.encode(event)) == [event])
        #expect(parseBytewise(SSEParser.encode(event)) == [event])
    }

    @Test func roundTripOfAStream() {
        let events = (0..<20).map { ServerSentEvent(event: "n\($0 % 3)", data: "payload \($0)\nmore", id: "\($0)") }
        let wire = Array(events.map(SSEParser.encode).joined().utf8)
        var parser = SSEParser()
        var parsed: [ServerSentEvent] = []
        // Uneven pieces so boundaries land everywhere.
        var offset = 0
        var size = 1
        while offset < wire.count {
            let end = min(wire.count, offset + size)
            parsed += parser.feed(Array(wire[offset..<end]))
            offset = end
            size = size % 13 + 1
        }
        #expect(parsed == events)
    }

    @Test func crlfInDataEncodesAsSeparateLines() {
        #expect(SSEParser.encode(ServerSentEvent(data: "a\r\nb\rc")) == "data: a\ndata: b\ndata: c\n\n")
        #expect(parse(SSEParser.encode(ServerSentEvent(data: "a\r\nb"))) == [ServerSentEvent(data: "a\nb")])
    }
}
