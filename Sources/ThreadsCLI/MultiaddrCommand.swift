import ArgumentParser
import Multiformats

/// `threads multiaddr …`: inspect multiaddrs offline.
struct MultiaddrCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multiaddr",
        abstract: "Inspect multiaddrs.",
        subcommands: [Inspect.self]
    )

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a multiaddr's canonical string, binary form and components as JSON.",
            discussion: "Accepts the string form (/ip4/1.2.3.4/tcp/4006) or the binary form as hex (0x04…)."
        )

        @Argument(help: "A multiaddr string, or its binary form as hex prefixed with 0x.")
        var multiaddr: String

        func run() throws {
            let text = multiaddr.trimmingWhitespace()
            let addr: Multiaddr
            do {
                if text.hasPrefix("0x") {
                    addr = try Multiaddr(bytes: try decodeHex(String(text.dropFirst(2))))
                } else {
                    addr = try Multiaddr(text)
                }
            } catch let error as CLIError {
                throw error
            } catch {
                throw CLIError("invalid multiaddr '\(text.truncatedForMessage)': \(error)")
            }
            print(MultiaddrCommand.inspection(of: addr).pretty)
        }
    }

    static func inspection(of addr: Multiaddr) -> JSONOutput {
        .object([
            ("string", .string(addr.description)),
            ("bytes", .string(addr.bytes.hexString)),
            (
                "components",
                .array(
                    addr.components.map { component in
                        .object([
                            ("protocol", .string(component.protocolName)),
                            ("code", .uint(component.protocolCode)),
                            ("value", component.valueString.map(JSONOutput.string) ?? .null),
                        ])
                    }
                )
            ),
        ])
    }
}

func decodeHex(_ text: String) throws -> [UInt8] {
    let chars = Array(text.utf8)
    guard chars.count % 2 == 0 else { throw CLIError("hex input has an odd number of digits (\(chars.count))") }
    var out = [UInt8]()
    out.reserveCapacity(chars.count / 2)
    func nibble(_ c: UInt8, at offset: Int) throws -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: throw CLIError("invalid hex digit at offset \(offset)")
        }
    }
    var i = 0
    while i < chars.count {
        out.append(try nibble(chars[i], at: i) << 4 | nibble(chars[i + 1], at: i + 1))
        i += 2
    }
    return out
}
