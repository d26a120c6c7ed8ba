/// A user-facing failure of a CLI command: one line, saying what is wrong and where.
struct CLIError: Error, CustomStringConvertible {
    let description: String

    init(_ message: String) {
        description = message
    }
}
