import Foundation
import Testing

@testable import ThreadsAPI

/// A model of the part of a VT100/xterm screen the line editor drives: printing with autowrap
/// (including the deferred wrap at the right margin, and a wide character that does not fit in the
/// last column starting the next row), carriage return, line feed, cursor up/down/forward and
/// erase below. It is written from the terminals' documented behaviour, not from the editor, so
/// the tests check the editor's bytes against what a terminal would show.
struct ScreenModel {
    let width: Int
    private(set) var rows: [[Character]] = [[]]
    private(set) var row = 0
    private(set) var column = 0
    /// Set after printing in the last column: the next printed character wraps first.
    private var pendingWrap = false

    init(width: Int) {
        self.width = width
    }

    /// The text of every row, trailing blanks dropped.
    var lines: [String] {
        rows.map { Self.trimmed(String($0).replacingOccurrences(of: "\u{0}", with: "")) }
    }

    static func trimmed(_ row: String) -> String {
        String(row.reversed().drop(while: { $0 == " " }).reversed())
    }

    /// Kana and CJK ideographs take two columns; the rest (ASCII in these tests) one.
    static func columns(_ character: Character) -> Int {
        guard let value = character.unicodeScalars.first?.value else { return 0 }
        return (0x4E00...0x9FFF).contains(value) || (0x3041...0x30FF).contains(value) ? 2 : 1
    }

    private mutating func ensureRow(_ index: Int) {
        while rows.count <= index { rows.append([]) }
    }

    private mutating func put(_ character: Character, at column: Int) {
        ensureRow(row)
        while rows[row].count < column + 1 { rows[row].append(" ") }
        rows[row][column] = character
    }

    mutating func feed(_ text: String) {
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            switch character {
            case "\r":
                column = 0
                pendingWrap = false
            case "\n", "\r\n":
                if character == "\r\n" { column = 0 }
                row += 1
                ensureRow(row)
                pendingWrap = false
            case "\u{1B}":
                guard characters.popFirst() == "[" else {
                    Issue.record("unexpected escape")
                    return
                }
                var digits = ""
                while let next = characters.first, next.isNumber {
                    digits.append(next)
                    characters.removeFirst()
                }
                let count = Int(digits) ?? 1
                pendingWrap = false
                switch characters.popFirst() {
                case "A": row = max(0, row - count)
                case "B":
                    row += count
                    ensureRow(row)
                case "C": column = min(width - 1, column + count)
                case "J":
                    ensureRow(row)
                    rows[row] = Array(rows[row].prefix(column))
                    rows.removeSubrange((row + 1)...)
                case let other: Issue.record("unexpected escape sequence ending in \(String(describing: other))")
                }
            default:
                let columns = Self.columns(character)
                if pendingWrap || column + columns > width {
                    row += 1
                    column = 0
                    ensureRow(row)
                    pendingWrap = false
                }
                put(character, at: column)
                if columns == 2 { put("\u{0}", at: column + 1) }
                column += columns
                if column == width {
                    column = width - 1
                    pendingWrap = true
                }
            }
        }
    }
}

/// The line editor's output, key by key, on a model terminal.
@Suite(.timeLimit(.minutes(5))) struct LineSessionTests {
    static let prompt = "threads> "

    struct Terminal {
        var screen: ScreenModel
        var buffer = LineBuffer(history: ["first", String(repeating: "h", count: 45)])
        var session = LineSession(prompt: LineSessionTests.prompt)
        var outcomes: [LineSession.Outcome] = []

        init(width: Int) {
            screen = ScreenModel(width: width)
            screen.feed(LineSessionTests.prompt)
        }

        mutating func keys(_ bytes: String) {
            for byte in bytes.utf8 {
                let (output, outcome) = session.feed(byte, to: &buffer, width: screen.width)
                screen.feed(output)
                if let outcome { outcomes.append(outcome) }
            }
        }

        /// Checks that the screen shows the prompt and the text wrapped at the width, and that the
        /// cursor is where the layout puts it.
        func expectShowsLine(sourceLocation: SourceLocation = #_sourceLocation) {
            let expected = LineSessionTests.wrap(LineSessionTests.prompt + buffer.text, width: screen.width)
            #expect(screen.lines == expected, sourceLocation: sourceLocation)
            let layout = buffer.layout(prompt: LineSessionTests.prompt, width: screen.width)
            #expect(screen.row == layout.cursorRow, "cursor row", sourceLocation: sourceLocation)
            #expect(screen.column == layout.cursorColumn, "cursor column", sourceLocation: sourceLocation)
        }
    }

    /// Text cut into rows of `width` columns, as a terminal wraps it (ASCII and two-column kana
    /// and ideographs only).
    static func wrap(_ text: String, width: Int) -> [String] {
        var rows = [""]
        var used = 0
        for character in text {
            let columns = ScreenModel.columns(character)
            if used + columns > width {
                rows.append("")
                used = 0
            }
            rows[rows.count - 1].append(character)
            used += columns
        }
        // A line that fills its last row exactly leaves the cursor on a fresh, empty row.
        if used == width { rows.append("") }
        // The screen model drops trailing blanks (the prompt ends in one).
        return rows.map(ScreenModel.trimmed)
    }

    static let left = "\u{1B}[D"
    static let up = "\u{1B}[A"
    static let home = "\u{01}"
    static let end = "\u{05}"

    @Test func typingPastTheMarginWrapsOntoNewRows() {
        var terminal = Terminal(width: 20)
        for character in "abcdefghijklmnopqrstuvwxyz0123456789" {
            terminal.keys(String(character))
            terminal.expectShowsLine()
        }
        #expect(terminal.screen.lines.count == 3)
    }

    @Test func editingInsideAWrappedLineRedrawsEveryRow() {
        var terminal = Terminal(width: 20)
        terminal.keys("abcdefghijklmnopqrstuvwxyz0123456789")
        for _ in 0..<25 {
            terminal.keys(Self.left)
            terminal.expectShowsLine()
        }
        terminal.keys("XY")
        terminal.expectShowsLine()
        #expect(terminal.buffer.text == "abcdefghijkXYlmnopqrstuvwxyz0123456789")
        terminal.keys("\u{7F}\u{7F}\u{7F}")  // backspace three times
        terminal.expectShowsLine()
        terminal.keys(Self.home)
        terminal.expectShowsLine()
        #expect(terminal.screen.row == 0 && terminal.screen.column == Self.prompt.count)
        terminal.keys(Self.end)
        terminal.expectShowsLine()
        terminal.keys("\u{15}")  // Ctrl-U: the rows below the prompt's are cleared
        terminal.expectShowsLine()
        #expect(terminal.screen.lines == [Self.prompt.trimmingCharacters(in: .whitespaces)])
    }

    @Test func aLineEndingExactlyAtTheMarginPutsTheCursorOnTheNextRow() {
        var terminal = Terminal(width: 20)
        terminal.keys(String(repeating: "m", count: 20 - Self.prompt.count))
        terminal.expectShowsLine()
        #expect(terminal.screen.row == 1 && terminal.screen.column == 0)
        terminal.keys("n")
        terminal.expectShowsLine()
        terminal.keys("\u{7F}")
        terminal.expectShowsLine()
    }

    @Test func wideCharactersThatDoNotFitStartTheNextRow() {
        var terminal = Terminal(width: 20)
        // The prompt and 10 columns of ASCII leave one column: the next wide character wraps.
        terminal.keys("abcdefghij")
        for character in "日本語のテキスト" {
            terminal.keys(String(character))
            terminal.expectShowsLine()
        }
        for _ in 0..<6 {
            terminal.keys(Self.left)
            terminal.expectShowsLine()
        }
        terminal.keys("漢")
        terminal.expectShowsLine()
    }

    @Test func historyRecallReplacesEveryRowOfTheLineShown() {
        var terminal = Terminal(width: 20)
        terminal.keys(Self.up)  // the 45-character entry: three rows
        terminal.expectShowsLine()
        #expect(terminal.screen.lines.count == 3)
        terminal.keys(Self.up)  // "first": one row, the two below cleared
        terminal.expectShowsLine()
        #expect(terminal.screen.lines.count == 1)
        terminal.keys("\u{1B}[B")
        terminal.expectShowsLine()
    }

    @Test func enterAndCtrlCLeaveTheCursorBelowTheWholeLine() {
        var terminal = Terminal(width: 20)
        terminal.keys("abcdefghijklmnopqrstuvwxyz0123456789")
        terminal.keys(Self.home)
        terminal.keys("\r")
        #expect(terminal.outcomes == [.line("abcdefghijklmnopqrstuvwxyz0123456789")])
        #expect(terminal.screen.row == 3 && terminal.screen.column == 0)
        #expect(
            Array(terminal.screen.lines.prefix(3)) == Self.wrap(Self.prompt + terminal.buffer.history.last!, width: 20)
        )

        var interrupted = Terminal(width: 20)
        interrupted.keys("abcdefghijklmnopqrstuvwxyz")
        interrupted.keys(Self.home)
        interrupted.keys("\u{03}")
        #expect(interrupted.outcomes == [.interrupted])
        #expect(interrupted.screen.lines[1] == "lmnopqrstuvwxyz^C")
        #expect(interrupted.screen.row == 2 && interrupted.screen.column == 0)

        // A line that ends at the margin: Enter adds no blank row.
        var full = Terminal(width: 20)
        full.keys(String(repeating: "m", count: 20 - Self.prompt.count))
        full.keys("\r")
        #expect(full.screen.row == 1 && full.screen.column == 0)
        #expect(full.screen.lines.count == 2 && full.screen.lines[1].isEmpty)
    }
}
