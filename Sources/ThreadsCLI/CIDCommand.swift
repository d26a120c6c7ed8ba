import ArgumentParser
import Multiformats

/// `threads cid …`: inspect and re-encode content identifiers offline.
struct CIDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cid",
        abstract: "Inspect and convert CIDs.",
        subcommands: [Inspect.self, Format.self]
    )

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a CID's parts as one JSON object.",
            discussion: """
                Output keys: version, codec, codecCode, hash, hashCode, digest (lowercase hex), \
                base32 (the CIDv1 in base32; a v0 input shows its v1 equivalent), base58btc.
                """
        )

        @Argument(help: "A CID in any supported multibase, or a bare base58btc CIDv0 (Qm…).")
        var cid: String

        func run() throws {
            let parsed = try parseCID(cid)
            print(CIDCommand.inspection(of: parsed).pretty)
        }
    }

    struct Format: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a CID in another multibase.")

        @Argument(help: "The CID to convert.")
        var cid: String

        @Option(help: "Target base: base32, base58btc, base36, base16 or base64 (upper variants too).")
        var base: String = "base32"

        @Flag(help: "Convert a CIDv0 to its CIDv1 equivalent first.")
        var v1 = false

        func run() throws {
            var parsed = try parseCID(cid)
            guard let target = Multibase(name: base) else {
                let names = Multibase.allCases.map(\.name).joined(separator: ", ")
                throw CLIError("unknown base '\(base)'; expected one of: \(names)")
            }
            if v1 { parsed = parsed.toV1() }
            if parsed.version == 0 && target != .base58btc {
                throw CLIError("a CIDv0 can only be printed in base58btc; add --v1 to convert it to a CIDv1 first")
            }
            print(try parsed.string(base: target))
        }
    }

    static func inspection(of cid: CID) -> JSONOutput {
        let v1 = cid.toV1()
        let base58 = (try? cid.string(base: .base58btc)) ?? ""
        return .object([
            ("version", .int(Int64(cid.version))),
            ("codec", .string(Multicodec.name(for: cid.codec) ?? "unknown")),
            ("codecCode", .uint(cid.codec)),
            ("hash", .string(Multicodec.name(for: cid.multihash.code) ?? "unknown")),
            ("hashCode", .uint(cid.multihash.code)),
            ("digest", .string(cid.multihash.digest.hexString)),
            ("base32", .string((try? v1.string(base: .base32)) ?? v1.description)),
            ("base58btc", .string(base58)),
        ])
    }
}

func parseCID(_ text: String) throws -> CID {
    let trimmed = text.trimmingWhitespace()
    do {
        return try CID(trimmed)
    } catch {
        throw CLIError("invalid CID '\(trimmed.truncatedForMessage)': \(error)")
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }

    /// Keeps error lines short when a user pastes something huge.
    var truncatedForMessage: String {
        count > 80 ? String(prefix(77)) + "..." : self
    }
}
