#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The terminal-independent part of line editing: text, cursor and history navigation.
///
/// Kept apart from ``LineEditor`` so it can be tested without a terminal.
public struct LineBuffer: Sendable {
    /// The line being edited, one element per user-perceived character so the cursor never splits one.
    private var characters: [Character] = []
    /// Position of the cursor as an index into the characters (0 = start of line).
    public private(set) var cursor = 0
    /// Previous lines, oldest first.
    public private(set) var history: [String]
    /// The history entry being shown, or nil while editing a fresh line.
    private var historyIndex: Int?
    /// The fresh line, kept while the user browses history so that going back down restores it.
    private var draft: [Character] = []
    private let maxHistory: Int

    /// Creates an empty buffer.
    ///
    /// - Parameters:
    ///   - history: Earlier lines, oldest first; only the newest `maxHistory` are kept.
    ///   - maxHistory: The most entries to keep.
    public init(history: [String] = [], maxHistory: Int = 1000) {
        self.maxHistory = max(0, maxHistory)
        self.history = Array(history.suffix(self.maxHistory))
    }

    /// The current text.
    public var text: String { String(characters) }

    /// Applies one key and says what the display has to do.
    public mutating func apply(_ key: Key) -> Action {
        switch key {
        case .insert(let character):
            // A combining mark typed on its own joins the preceding character instead of becoming a new one.
            if cursor > 0, String([characters[cursor - 1], character]).count == 1 {
                characters[cursor - 1] = Character(String(characters[cursor - 1]) + String(character))
            } else {
                characters.insert(character, at: cursor)
                cursor += 1
            }
            return .redraw
        case .backspace:
            guard cursor > 0 else { return .none }
            cursor -= 1
            characters.remove(at: cursor)
            return .redraw
        case .deleteForward:
            guard cursor < characters.count else { return .none }
            characters.remove(at: cursor)
            return .redraw
        case .left:
            guard cursor > 0 else { return .none }
            cursor -= 1
            return .redraw
        case .right:
            guard cursor < characters.count else { return .none }
            cursor += 1
            return .redraw
        case .home:
            guard cursor > 0 else { return .none }
            cursor = 0
            return .redraw
        case .end:
            guard cursor < characters.count else { return .none }
            cursor = characters.count
            return .redraw
        case .up:
            return showHistory(older: true)
        case .down:
            return showHistory(older: false)
        case .clearLine:
            guard !characters.isEmpty else { return .none }
            characters.removeAll()
            cursor = 0
            return .redraw
        case .killToEnd:
            guard cursor < characters.count else { return .none }
            characters.removeSubrange(cursor...)
            return .redraw
        case .interrupt:
            reset()
            return .interrupt
        case .endOfFile:
            if characters.isEmpty {
                reset()
                return .endOfFile
            }
            return apply(.deleteForward)
        case .enter:
            let line = text
            addToHistory(line)
            reset()
            return .submit(line)
        }
    }

    /// Records a line unless it is empty or repeats the newest entry.
    ///
    /// - Returns: Whether the line was added.
    @discardableResult
    public mutating func addToHistory(_ line: String) -> Bool {
        guard !line.isEmpty, line != history.last, maxHistory > 0 else { return false }
        history.append(line)
        if history.count > maxHistory {
            history.removeFirst(history.count - maxHistory)
        }
        return true
    }

    /// Starts a fresh, empty line.
    public mutating func reset() {
        characters = []
        cursor = 0
        historyIndex = nil
        draft = []
    }

    private mutating func showHistory(older: Bool) -> Action {
        let target: Int?
        switch (historyIndex, older) {
        case (nil, true):
            guard !history.isEmpty else { return .none }
            draft = characters
            target = history.count - 1
        case (nil, false):
            return .none
        case (let index?, true):
            guard index > 0 else { return .none }
            target = index - 1
        case (let index?, false):
            target = index + 1 < history.count ? index + 1 : nil
        }
        historyIndex = target
        characters = target.map { Array(history[$0]) } ?? draft
        cursor = characters.count
        return .redraw
    }

    /// Where the prompt and text land on a terminal `width` columns wide, counted from the
    /// prompt's first row.
    public struct Layout: Equatable, Sendable {
        /// Row and column of the cursor.
        public var cursorRow: Int
        public var cursorColumn: Int
        /// Row and column where the text ends, where output after the line has to start.
        public var endRow: Int
        public var endColumn: Int
        /// Whether the text ends exactly at the right margin, where terminals leave the cursor on
        /// the last column until the next character: the editor then moves to the next row itself.
        public var endsAtMargin: Bool
    }

    /// Lays out `prompt` and the text on rows of `width` columns, as a terminal wraps them: a
    /// character that does not fit on a row (a wide one in the last column) starts the next.
    public func layout(prompt: String, width: Int) -> Layout {
        let width = max(1, width)
        var row = 0
        var column = 0
        func place(_ character: Character) {
            let w = min(Self.columns(of: character), width)
            if column + w > width {
                row += 1
                column = 0
            }
            column += w
        }
        for character in prompt { place(character) }
        var cursor: (row: Int, column: Int)?
        for (index, character) in characters.enumerated() {
            if index == cursorInsideText { cursor = (row, column) }
            place(character)
        }
        let endsAtMargin = column == width
        let end = endsAtMargin ? (row + 1, 0) : (row, column)
        let at = cursor ?? end
        // A cursor exactly at the margin sits at the start of the next row.
        let (cursorRow, cursorColumn) = at.column == width ? (at.row + 1, 0) : at
        return Layout(
            cursorRow: cursorRow,
            cursorColumn: cursorColumn,
            endRow: end.0,
            endColumn: end.1,
            endsAtMargin: endsAtMargin
        )
    }

    /// The cursor as an index into the characters, or nil at the end of the text.
    private var cursorInsideText: Int? { cursor < characters.count ? cursor : nil }

    /// East Asian wide characters and most emoji take two terminal columns; the rest one.
    static func columns(of character: Character) -> Int {
        guard let scalar = character.unicodeScalars.first else { return 0 }
        return isWide(scalar.value) ? 2 : 1
    }

    private static func isWide(_ value: UInt32) -> Bool {
        switch value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F,
            0x1F900...0x1F9FF, 0x20000...0x3FFFD:
            true
        default:
            false
        }
    }
}

extension LineBuffer {
    /// An editing key, already decoded from the terminal's byte sequences.
    public enum Key: Equatable, Sendable {
        /// Printable text to insert at the cursor.
        case insert(Character)
        /// Delete the character before the cursor (Backspace, Ctrl-H).
        case backspace
        /// Delete the character under the cursor (Delete key).
        case deleteForward
        case left
        case right
        case home
        case end
        /// Previous history entry.
        case up
        /// Next history entry, or back to the line being typed.
        case down
        /// Clear the whole line (Ctrl-U).
        case clearLine
        /// Delete from the cursor to the end of the line (Ctrl-K).
        case killToEnd
        /// Abandon the line (Ctrl-C).
        case interrupt
        /// Ctrl-D: end of input on an empty line, otherwise delete under the cursor like most shells.
        case endOfFile
        /// Accept the line.
        case enter
    }

    /// What the terminal side has to do after a key was applied.
    public enum Action: Equatable, Sendable {
        /// Nothing changed (e.g. moving left at the start of the line).
        case none
        /// The text or the cursor changed; redraw the line.
        case redraw
        /// The user accepted this line.
        case submit(String)
        /// The user abandoned the line with Ctrl-C.
        case interrupt
        /// The user signalled end of input with Ctrl-D on an empty line.
        case endOfFile
    }
}

/// Turns the bytes a terminal sends into ``LineBuffer/Key`` values, one byte at a time.
///
/// Unknown escape sequences and control characters are swallowed so they never end up in the text.
struct KeyDecoder: Sendable {
    private enum State: Sendable {
        case ground
        case escape
        /// Inside `ESC [`, collecting parameter bytes.
        case csi([UInt8])
        /// After `ESC O`, as some terminals send for Home/End and the arrows.
        case ss3
        /// Inside a multi-byte UTF-8 sequence.
        case utf8([UInt8], needed: Int)
    }

    private var state = State.ground

    /// Consumes one byte; returns a key once a complete one has arrived.
    mutating func decode(_ byte: UInt8) -> LineBuffer.Key? {
        switch state {
        case .ground:
            return ground(byte)
        case .escape:
            switch byte {
            case UInt8(ascii: "["):
                state = .csi([])
            case UInt8(ascii: "O"):
                state = .ss3
            default:
                // Alt-modified keys and the like are not supported.
                state = .ground
            }
            return nil
        case .csi(var parameters):
            // Parameter and intermediate bytes are 0x20–0x3F; the final byte ends the sequence.
            if (0x20...0x3F).contains(byte) {
                parameters.append(byte)
                state = .csi(parameters)
                return nil
            }
            state = .ground
            return csi(parameters, final: byte)
        case .ss3:
            state = .ground
            return csi([], final: byte)
        case .utf8(var bytes, let needed):
            guard byte & 0xC0 == 0x80 else {
                // A broken sequence: drop it and treat this byte afresh.
                state = .ground
                return ground(byte)
            }
            bytes.append(byte)
            if bytes.count < needed {
                state = .utf8(bytes, needed: needed)
                return nil
            }
            state = .ground
            return Self.character(bytes)
        }
    }

    private mutating func ground(_ byte: UInt8) -> LineBuffer.Key? {
        switch byte {
        case 0x01: return .home  // Ctrl-A
        case 0x02: return .left  // Ctrl-B
        case 0x03: return .interrupt  // Ctrl-C
        case 0x04: return .endOfFile  // Ctrl-D
        case 0x05: return .end  // Ctrl-E
        case 0x06: return .right  // Ctrl-F
        case 0x08, 0x7F: return .backspace
        case 0x0A, 0x0D: return .enter
        case 0x0B: return .killToEnd  // Ctrl-K
        case 0x0E: return .down  // Ctrl-N
        case 0x10: return .up  // Ctrl-P
        case 0x15: return .clearLine  // Ctrl-U
        case 0x1B:
            state = .escape
            return nil
        case 0x20...0x7E:
            return .insert(Character(Unicode.Scalar(byte)))
        case 0xC2...0xDF:
            state = .utf8([byte], needed: 2)
            return nil
        case 0xE0...0xEF:
            state = .utf8([byte], needed: 3)
            return nil
        case 0xF0...0xF4:
            state = .utf8([byte], needed: 4)
            return nil
        default:
            return nil
        }
    }

    private func csi(_ parameters: [UInt8], final: UInt8) -> LineBuffer.Key? {
        switch (final, String(decoding: parameters, as: UTF8.self)) {
        case (UInt8(ascii: "A"), _): .up
        case (UInt8(ascii: "B"), _): .down
        case (UInt8(ascii: "C"), _): .right
        case (UInt8(ascii: "D"), _): .left
        case (UInt8(ascii: "H"), _): .home
        case (UInt8(ascii: "F"), _): .end
        case (UInt8(ascii: "~"), "1"), (UInt8(ascii: "~"), "7"): .home
        case (UInt8(ascii: "~"), "4"), (UInt8(ascii: "~"), "8"): .end
        case (UInt8(ascii: "~"), "3"): .deleteForward
        default: nil
        }
    }

    private static func character(_ bytes: [UInt8]) -> LineBuffer.Key? {
        guard let text = String(validating: bytes, as: UTF8.self), let character = text.first,
            character.unicodeScalars.allSatisfy({ $0.properties.generalCategory != .control })
        else { return nil }
        return .insert(character)
    }
}

/// The editing of one line on a terminal, without the terminal: key bytes in, the bytes to write
/// out, and how the line ended once it has. ``LineEditor`` reads and writes; tests feed it bytes
/// and check what a terminal would show.
struct LineSession {
    /// How a line ended.
    enum Outcome: Equatable {
        case line(String)
        case interrupted
        case endOfInput
    }

    let prompt: String
    private var decoder = KeyDecoder()
    /// The row of the cursor, counted from the prompt's row, after the last redraw.
    private var cursorRow = 0

    /// A session whose prompt has just been written.
    init(prompt: String) {
        self.prompt = prompt
    }

    /// Applies one input byte to `buffer` on a terminal `width` columns wide.
    mutating func feed(_ byte: UInt8, to buffer: inout LineBuffer, width: Int) -> (output: String, outcome: Outcome?) {
        guard let key = decoder.decode(byte) else { return ("", nil) }
        // The line as shown, before a submit or an interrupt clears it.
        let shown = buffer
        switch buffer.apply(key) {
        case .none:
            return ("", nil)
        case .redraw:
            return (redraw(buffer, width: width), nil)
        case .submit(let line):
            return (moveBelow(shown, width: width), .line(line))
        case .interrupt:
            return (moveBelow(shown, width: width, marking: "^C"), .interrupted)
        case .endOfFile:
            return (moveBelow(shown, width: width), .endOfInput)
        }
    }

    /// Rewrites the prompt and the whole line from the prompt's row down, then puts the cursor
    /// where it belongs, on whichever row the wrapping put it.
    private mutating func redraw(_ buffer: LineBuffer, width: Int) -> String {
        let layout = buffer.layout(prompt: prompt, width: width)
        var output = cursorRow > 0 ? "\u{1B}[\(cursorRow)A" : ""
        // Back to the prompt's row, clear it and everything below, write it all again.
        output += "\r\u{1B}[J\(prompt)\(buffer.text)"
        // At the margin the terminal keeps the cursor on the last column: step to the next row.
        if layout.endsAtMargin { output += "\r\n" }
        let up = layout.endRow - layout.cursorRow
        if up > 0 { output += "\u{1B}[\(up)A" }
        output += "\r"
        if layout.cursorColumn > 0 { output += "\u{1B}[\(layout.cursorColumn)C" }
        cursorRow = layout.cursorRow
        return output
    }

    /// Moves to a fresh row below the whole of `line` as shown, wherever the cursor is in it,
    /// after writing `mark` at the line's end.
    private mutating func moveBelow(_ line: LineBuffer, width: Int, marking mark: String = "") -> String {
        let layout = line.layout(prompt: prompt, width: width)
        var output = layout.endRow > cursorRow ? "\u{1B}[\(layout.endRow - cursorRow)B" : ""
        output += "\r" + (layout.endColumn > 0 ? "\u{1B}[\(layout.endColumn)C" : "") + mark
        // Text that ends at the margin already left the cursor on a fresh row.
        if !(layout.endsAtMargin && mark.isEmpty) { output += "\r\n" }
        cursorRow = 0
        return output
    }
}

/// A minimal interactive line editor for the shell, using only termios.
///
/// On a terminal it offers cursor movement, history and the usual Emacs-style control keys; when stdin is a
/// pipe or file it simply reads lines, so scripts can drive the shell. A line longer than the terminal is
/// wide wraps onto further rows, and editing anywhere in it redraws all of them.
public final class LineEditor {
    private var buffer: LineBuffer
    private let historyFile: String?

    /// Creates an editor, loading earlier history from `historyFile` if it exists.
    ///
    /// - Parameters:
    ///   - historyFile: Where accepted lines are appended (created with mode 0600), or nil for no persistence.
    ///   - maxHistory: The most entries kept in memory and in the file.
    public init(historyFile: String?, maxHistory: Int = 1000) {
        self.historyFile = historyFile
        var history: [String] = []
        if let historyFile, let contents = Self.readFile(historyFile) {
            history = contents.split(separator: "\n").map(String.init)
            // The file only ever grows by appending; rewrite it now and then so it stays bounded.
            if history.count > 2 * maxHistory {
                history = Array(history.suffix(maxHistory))
                Self.rewrite(historyFile, with: history)
            }
        }
        buffer = LineBuffer(history: history, maxHistory: maxHistory)
    }

    /// Prints `prompt` and reads one line.
    ///
    /// - Returns: The line without its newline, `""` when the user pressed Ctrl-C, or nil at end of input.
    public func readLine(prompt: String) -> String? {
        guard isatty(STDIN_FILENO) == 1, let original = Self.enterRawMode() else {
            write(prompt)
            return Swift.readLine(strippingNewline: true)
        }
        defer { withUnsafePointer(to: original) { _ = tcsetattr(STDIN_FILENO, TCSADRAIN, $0) } }
        buffer.reset()
        var session = LineSession(prompt: prompt)
        write(prompt)
        while true {
            var byte: UInt8 = 0
            let count = read(STDIN_FILENO, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1 else {
                // The terminal went away: treat it like Ctrl-D.
                write("\n")
                return nil
            }
            let previousEntry = buffer.history.last
            let (output, outcome) = session.feed(byte, to: &buffer, width: Self.terminalWidth())
            if !output.isEmpty { write(output) }
            switch outcome {
            case nil:
                continue
            case .line(let line):
                // The buffer applies the history rules; persist exactly what it recorded.
                if !line.isEmpty, line != previousEntry, buffer.history.last == line {
                    appendToHistoryFile(line)
                }
                return line
            case .interrupted:
                return ""
            case .endOfInput:
                return nil
            }
        }
    }

    /// Columns of the terminal on standard output (80 when it cannot be asked).
    private static func terminalWidth() -> Int {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    private func write(_ text: String) {
        // Whatever the shell printed through stdio must appear before the prompt.
        fflush(nil)
        _ = writeFully(STDOUT_FILENO, Array(text.utf8))
    }

    /// Switches the terminal to byte-at-a-time input without echo or signal keys, returning the previous mode.
    private static func enterRawMode() -> termios? {
        var original = termios()
        guard tcgetattr(STDIN_FILENO, &original) == 0 else { return nil }
        var raw = original
        // ISIG off so Ctrl-C arrives as a byte we handle instead of killing the shell; output processing stays on
        // so `\n` still returns the carriage for everything else the shell prints.
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG | IEXTEN)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) == 0 else { return nil }
        return original
    }

    private func appendToHistoryFile(_ line: String) {
        guard let historyFile else { return }
        let descriptor = open(historyFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        defer { _ = close(descriptor) }
        _ = writeFully(descriptor, Array((line + "\n").utf8))
    }

    private static func readFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { _ = close(descriptor) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            contents += chunk[..<count]
        }
        return String(decoding: contents, as: UTF8.self)
    }

    /// Replaces the file's contents atomically so a crash cannot lose the whole history.
    private static func rewrite(_ path: String, with lines: [String]) {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        let bytes = Array(lines.map { $0 + "\n" }.joined().utf8)
        let complete = writeFully(descriptor, bytes)
        _ = close(descriptor)
        if complete {
            _ = rename(temporary, path)
        } else {
            _ = unlink(temporary)
        }
    }
}

/// Writes all of `bytes`, retrying short writes and interruptions; false if the descriptor failed.
private func writeFully(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
    var remaining = bytes[...]
    while !remaining.isEmpty {
        let written = remaining.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        remaining = remaining.dropFirst(written)
    }
    return true
}
