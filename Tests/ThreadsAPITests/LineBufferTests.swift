import Foundation
import Testing

@testable import ThreadsAPI

extension LineBuffer {
    /// Types each character of `text`.
    fileprivate mutating func type(_ text: String) {
        for character in text {
            _ = apply(.insert(character))
        }
    }

    fileprivate mutating func apply(_ keys: [Key]) -> [Action] {
        keys.map { apply($0) }
    }
}

@Suite("LineBuffer", .timeLimit(.minutes(5)))
struct LineBufferTests {
    /// Where a line longer than the terminal puts its rows and the cursor: what the editor
    /// redraws by.
    @Test func layoutWrapsLikeATerminal() {
        typealias Layout = LineBuffer.Layout
        // Text typed after a two-column prompt, the terminal's width, and where things land.
        let cases: [(text: String, width: Int, expected: Layout)] = [
            ("abc", 80, Layout(cursorRow: 0, cursorColumn: 5, endRow: 0, endColumn: 5, endsAtMargin: false)),
            // Twelve columns on eight: two rows.
            ("abcdefghij", 8, Layout(cursorRow: 1, cursorColumn: 4, endRow: 1, endColumn: 4, endsAtMargin: false)),
            // Ending exactly at the margin: the next output starts on a new row.
            ("abcdef", 8, Layout(cursorRow: 1, cursorColumn: 0, endRow: 1, endColumn: 0, endsAtMargin: true)),
            // A wide character that does not fit in the last column starts the next row.
            ("abcde水", 8, Layout(cursorRow: 1, cursorColumn: 2, endRow: 1, endColumn: 2, endsAtMargin: false)),
        ]
        for (text, width, expected) in cases {
            var buffer = LineBuffer()
            buffer.type(text)
            #expect(buffer.layout(prompt: "> ", width: width) == expected, "\(text) on \(width) columns")
        }

        // The cursor on 'f' (the eighth column) stays on the first row; on 'g' it is on the second.
        var buffer = LineBuffer()
        buffer.type("abcdefghij")
        _ = buffer.apply([.left, .left, .left, .left, .left])
        #expect(buffer.layout(prompt: "> ", width: 8).cursorRow == 0)
        #expect(buffer.layout(prompt: "> ", width: 8).cursorColumn == 7)
        _ = buffer.apply(.right)
        #expect(buffer.layout(prompt: "> ", width: 8).cursorRow == 1)
        #expect(buffer.layout(prompt: "> ", width: 8).cursorColumn == 0)
        // The end stays where it was, wherever the cursor is.
        #expect(buffer.layout(prompt: "> ", width: 8).endColumn == 4)
    }

    @Test func typingAndSubmitting() {
        var buffer = LineBuffer()
        buffer.type("hello")
        #expect(buffer.text == "hello")
        #expect(buffer.cursor == 5)
        #expect(buffer.apply(.enter) == .submit("hello"))
        #expect(buffer.text == "")
        #expect(buffer.cursor == 0)
        #expect(buffer.history == ["hello"])
    }

    @Test func insertInTheMiddle() {
        var buffer = LineBuffer()
        buffer.type("held")
        _ = buffer.apply([.left, .left])
        buffer.type("l")
        #expect(buffer.text == "helld")
        #expect(buffer.cursor == 3)
        let layout = buffer.layout(prompt: "", width: 80)
        #expect(layout.cursorColumn == 3 && layout.endColumn == 5)
    }

    @Test func backspaceAndDelete() {
        var buffer = LineBuffer()
        #expect(buffer.apply(.backspace) == .none)
        buffer.type("abcd")
        #expect(buffer.apply(.backspace) == .redraw)
        #expect(buffer.text == "abc")
        _ = buffer.apply(.home)
        #expect(buffer.apply(.backspace) == .none)
        #expect(buffer.apply(.deleteForward) == .redraw)
        #expect(buffer.text == "bc")
        #expect(buffer.cursor == 0)
        _ = buffer.apply(.end)
        #expect(buffer.apply(.deleteForward) == .none)
    }

    @Test func cursorMovementStaysInBounds() {
        var buffer = LineBuffer()
        #expect(buffer.apply(.left) == .none)
        #expect(buffer.apply(.right) == .none)
        buffer.type("ab")
        #expect(buffer.apply(.right) == .none)
        #expect(buffer.apply(.left) == .redraw)
        #expect(buffer.cursor == 1)
        #expect(buffer.apply(.home) == .redraw)
        #expect(buffer.apply(.home) == .none)
        #expect(buffer.cursor == 0)
        #expect(buffer.apply(.end) == .redraw)
        #expect(buffer.cursor == 2)
        #expect(buffer.apply(.end) == .none)
    }

    @Test func clearAndKill() {
        var buffer = LineBuffer()
        #expect(buffer.apply(.clearLine) == .none)
        buffer.type("hello world")
        _ = buffer.apply(Array(repeating: .left, count: 6))
        #expect(buffer.apply(.killToEnd) == .redraw)
        #expect(buffer.text == "hello")
        #expect(buffer.apply(.killToEnd) == .none)
        #expect(buffer.apply(.clearLine) == .redraw)
        #expect(buffer.text == "")
        #expect(buffer.cursor == 0)
    }

    @Test func interruptAbandonsTheLine() {
        var buffer = LineBuffer()
        buffer.type("oops")
        #expect(buffer.apply(.interrupt) == .interrupt)
        #expect(buffer.text == "")
        #expect(buffer.history.isEmpty)
    }

    @Test func endOfFileOnlyOnEmptyLine() {
        var buffer = LineBuffer()
        buffer.type("ab")
        _ = buffer.apply(.home)
        // On a non-empty line Ctrl-D deletes under the cursor instead of ending input.
        #expect(buffer.apply(.endOfFile) == .redraw)
        #expect(buffer.text == "b")
        _ = buffer.apply(.end)
        #expect(buffer.apply(.endOfFile) == .none)
        _ = buffer.apply(.clearLine)
        #expect(buffer.apply(.endOfFile) == .endOfFile)
    }

    @Test func historySkipsEmptyAndRepeatedLines() {
        var buffer = LineBuffer()
        #expect(buffer.apply(.enter) == .submit(""))
        buffer.type("ls")
        _ = buffer.apply(.enter)
        buffer.type("ls")
        _ = buffer.apply(.enter)
        buffer.type("cd")
        _ = buffer.apply(.enter)
        buffer.type("ls")
        _ = buffer.apply(.enter)
        #expect(buffer.history == ["ls", "cd", "ls"])
    }

    @Test func historyNavigation() {
        var buffer = LineBuffer(history: ["first", "second", "third"])
        buffer.type("draft")
        #expect(buffer.apply(.up) == .redraw)
        #expect(buffer.text == "third")
        #expect(buffer.cursor == 5)
        _ = buffer.apply(.up)
        #expect(buffer.text == "second")
        _ = buffer.apply(.up)
        #expect(buffer.text == "first")
        #expect(buffer.apply(.up) == .none)
        #expect(buffer.text == "first")
        _ = buffer.apply(.down)
        #expect(buffer.text == "second")
        _ = buffer.apply(.down)
        #expect(buffer.text == "third")
        // Going past the newest entry brings back what was being typed.
        _ = buffer.apply(.down)
        #expect(buffer.text == "draft")
        #expect(buffer.apply(.down) == .none)
        #expect(buffer.text == "draft")
    }

    @Test func editingARecalledEntryLeavesHistoryAlone() {
        var buffer = LineBuffer(history: ["echo hi"])
        _ = buffer.apply(.up)
        buffer.type("!")
        #expect(buffer.apply(.enter) == .submit("echo hi!"))
        #expect(buffer.history == ["echo hi", "echo hi!"])
        // Navigation starts over from the newest entry after a submit.
        _ = buffer.apply(.up)
        #expect(buffer.text == "echo hi!")
    }

    @Test func resubmittingTheNewestEntryIsNotDuplicated() {
        var buffer = LineBuffer(history: ["a", "b"])
        _ = buffer.apply(.up)
        #expect(buffer.apply(.enter) == .submit("b"))
        #expect(buffer.history == ["a", "b"])
    }

    @Test func upWithoutHistoryDoesNothing() {
        var buffer = LineBuffer()
        buffer.type("x")
        #expect(buffer.apply(.up) == .none)
        #expect(buffer.apply(.down) == .none)
        #expect(buffer.text == "x")
    }

    @Test func historyIsBounded() {
        var buffer = LineBuffer(history: ["1", "2", "3", "4"], maxHistory: 3)
        #expect(buffer.history == ["2", "3", "4"])
        buffer.type("5")
        _ = buffer.apply(.enter)
        #expect(buffer.history == ["3", "4", "5"])
    }

    @Test func interruptLeavesHistoryBrowsing() {
        var buffer = LineBuffer(history: ["a", "b"])
        _ = buffer.apply([.up, .up])
        _ = buffer.apply(.interrupt)
        _ = buffer.apply(.up)
        #expect(buffer.text == "b")
    }

    @Test func unicodeCharactersAreSingleCursorSteps() {
        var buffer = LineBuffer()
        buffer.type("añ日👍🏽")
        #expect(buffer.cursor == 4)
        #expect(buffer.layout(prompt: "", width: 80).endColumn == 1 + 1 + 2 + 2)
        _ = buffer.apply(.left)
        #expect(buffer.layout(prompt: "", width: 80).cursorColumn == 1 + 1 + 2)
        _ = buffer.apply(.backspace)
        #expect(buffer.text == "añ👍🏽")
    }

    @Test func combiningMarkJoinsPreviousCharacter() {
        var buffer = LineBuffer()
        buffer.type("e")
        _ = buffer.apply(.insert("\u{301}"))
        #expect(buffer.text == "e\u{301}")
        #expect(buffer.cursor == 1)
        _ = buffer.apply(.backspace)
        #expect(buffer.text == "")
    }
}

@Suite("KeyDecoder", .timeLimit(.minutes(5)))
struct KeyDecoderTests {
    private func keys(_ bytes: [UInt8]) -> [LineBuffer.Key] {
        var decoder = KeyDecoder()
        return bytes.compactMap { decoder.decode($0) }
    }

    @Test func printableAndUTF8() {
        #expect(keys(Array("aé日".utf8)) == [.insert("a"), .insert("é"), .insert("日")])
    }

    @Test func controlKeys() {
        #expect(
            keys([0x01, 0x05, 0x03, 0x04, 0x7F, 0x08, 0x0D, 0x0A, 0x15, 0x0B, 0x02, 0x06, 0x10, 0x0E]) == [
                .home, .end, .interrupt, .endOfFile, .backspace, .backspace, .enter, .enter, .clearLine, .killToEnd,
                .left, .right, .up, .down,
            ]
        )
    }

    @Test func escapeSequences() {
        let input = "\u{1B}[A\u{1B}[B\u{1B}[C\u{1B}[D\u{1B}[H\u{1B}[F\u{1B}[3~\u{1B}[1~\u{1B}[4~\u{1B}OH\u{1B}OF"
        #expect(
            keys(Array(input.utf8)) == [
                .up, .down, .right, .left, .home, .end, .deleteForward, .home, .end, .home, .end,
            ]
        )
    }

    @Test func unknownSequencesAreSwallowed() {
        // F5, Alt-x, and a modified arrow the editor does not support, then plain text.
        let input = "\u{1B}[15~\u{1B}x\u{1B}[1;5Z" + "ok"
        #expect(keys(Array(input.utf8)) == [.insert("o"), .insert("k")])
    }

    @Test func brokenUTF8IsDropped() {
        #expect(keys([0xE6, 0x97, 0x61, 0xFF, 0x62]) == [.insert("a"), .insert("b")])
    }
}

@Suite("LineEditor", .timeLimit(.minutes(5)))
struct LineEditorTests {
    @Test func loadsHistoryFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString)").path
        try "one\ntwo\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Constructing must not fail or alter a small file; stdin is not a terminal under `swift test`.
        _ = LineEditor(historyFile: path, maxHistory: 10)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "one\ntwo\n")
    }

    @Test func trimsOversizedHistoryFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString)").path
        let lines = (1...25).map { "cmd \($0)" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = LineEditor(historyFile: path, maxHistory: 10)
        let kept = try String(contentsOfFile: path, encoding: .utf8)
        #expect(kept == lines.suffix(10).joined(separator: "\n") + "\n")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}
