import ArgumentParser
internal import CSodium
import Crypto
import DagCBOR
import Multiformats

/// `threads bench encoding`: CID, multihash and DAG-CBOR throughput.
///
/// SHA-256 through `Multihash` is compared with the fastest SHA-256 on the machine called directly
/// on the same bytes (swift-crypto's BoringSSL and libsodium are both measured; the faster one is the
/// baseline), so the ratio shows what the multihash layer costs.
struct EncodingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoding",
        abstract: "CID parse/print, multihash sha2-256 and DAG-CBOR encode/decode throughput."
    )

    @OptionGroup var options: BenchOptions

    func run() throws {
        let runner = BenchRunner(options)
        print("threads bench encoding: best of \(options.rounds) rounds of >= \(options.roundMilliseconds) ms each")
        print("")
        try cidFigures(runner)
        print("")
        hashFigures(runner)
        print("")
        try dagFigures(runner)
    }

    private func cidFigures(_ runner: BenchRunner) throws {
        let digest = try Multihash.hash(Array("swift-threads".utf8), using: .sha2_256)
        let cid = CID.v1(codec: Multicodec.dagCBOR, multihash: digest)
        let v1String = cid.description
        let v0 = try CID(version: 0, codec: Multicodec.dagPB, multihash: digest)
        let v0String = v0.description
        let binary = cid.bytes

        var table = BenchTable(header: ["CID", "ops/s"])
        table.add(
            "parse CIDv1 base32 string",
            formatRate(runner.opsPerSecond { blackHole(try? CID(v1String)) }, decimals: 0)
        )
        table.add(
            "parse CIDv0 base58btc string",
            formatRate(runner.opsPerSecond { blackHole(try? CID(v0String)) }, decimals: 0)
        )
        table.add(
            "parse CIDv1 binary",
            formatRate(runner.opsPerSecond { blackHole(try? CID(bytes: binary)) }, decimals: 0)
        )
        table.add("print CIDv1 base32", formatRate(runner.opsPerSecond { blackHole(cid.description) }, decimals: 0))
        table.add(
            "print CIDv1 base58btc",
            formatRate(runner.opsPerSecond { blackHole(try? cid.string(base: .base58btc)) }, decimals: 0)
        )
        print(table.render())
    }

    private func hashFigures(_ runner: BenchRunner) {
        _ = sodium_init()
        var table = BenchTable(header: ["sha2-256", "MB/s", "vs fastest direct"])
        for size in [1 << 20, 1 << 10] {
            let label = size >= 1 << 20 ? "1 MiB" : "1 KiB"
            var generator = SplitMix64(seed: UInt64(size))
            let input = (0..<size).map { _ in UInt8(truncatingIfNeeded: generator.next()) }

            let boring = runner.megabytesPerSecond(bytesPerCall: size) { blackHole(SHA256.hash(data: input)) }
            let sodium = runner.megabytesPerSecond(bytesPerCall: size) {
                var out = [UInt8](repeating: 0, count: 32)
                input.withUnsafeBufferPointer { buffer in
                    _ = crypto_hash_sha256(&out, buffer.baseAddress, UInt64(buffer.count))
                }
                blackHole(out)
            }
            let multihash = runner.megabytesPerSecond(bytesPerCall: size) {
                blackHole(try? Multihash.hash(input, using: .sha2_256))
            }
            let fastest = max(boring, sodium)
            table.add("\(label) direct swift-crypto (BoringSSL)", formatRate(boring), formatPercent(boring / fastest))
            table.add("\(label) direct libsodium", formatRate(sodium), formatPercent(sodium / fastest))
            table.add("\(label) Multihash.hash", formatRate(multihash), formatPercent(multihash / fastest))
        }
        print(table.render())
    }

    private func dagFigures(_ runner: BenchRunner) throws {
        var table = BenchTable(header: ["DAG-CBOR", "bytes", "encode MB/s", "decode MB/s", "ops/s (enc/dec)"])
        for (name, node) in [("record-sized node", try Self.recordNode()), ("1 MiB node", try Self.largeNode())] {
            let encoded = try DagCBOR.encode(node)
            let size = encoded.count
            let encodeOps = runner.opsPerSecond { blackHole(try? DagCBOR.encode(node)) }
            let decodeOps = runner.opsPerSecond { blackHole(try? DagCBOR.decode(encoded)) }
            table.add(
                name,
                String(size),
                formatRate(encodeOps * Double(size) / 1e6),
                formatRate(decodeOps * Double(size) / 1e6),
                formatRate(encodeOps, decimals: 0) + " / " + formatRate(decodeOps, decimals: 0)
            )
        }
        print(table.render())
    }

    /// Shaped like a thread record: links to the previous record and the event, a signature and a
    /// public key, a few small fields.
    static func recordNode() throws -> IPLD {
        var generator = SplitMix64(seed: 7)
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: generator.next()) } }
        func link() throws -> IPLD {
            .link(CID.v1(codec: Multicodec.dagCBOR, multihash: try Multihash.hash(bytes(16), using: .sha2_256)))
        }
        return .map([
            "block": try link(),
            "prev": try link(),
            "sig": .bytes(bytes(64)),
            "pubKey": .bytes(bytes(36)),
            "header": .map([
                "key": .bytes(bytes(32)),
                "time": .integer(IPLDInteger(1_764_000_000_000_000)),
                "clock": .list([.integer(IPLDInteger(42)), .integer(IPLDInteger(7))]),
            ]),
            "body": try link(),
            "seq": .integer(IPLDInteger(1234)),
            "thread": .string("bafkreih5aznjvttude6c3wbvqeebb6rlx5wkbzyppv7garjiubll2ceym4"),
            "ciphertext": .bytes(bytes(160)),
        ])
    }

    /// About 1 MiB of mixed content: maps with strings, integers, floats, bytes and links.
    static func largeNode() throws -> IPLD {
        var generator = SplitMix64(seed: 11)
        var items: [IPLD] = []
        let link = IPLD.link(CID.v1(codec: Multicodec.raw, multihash: try Multihash.hash([1, 2, 3], using: .sha2_256)))
        var approximate = 0
        var index = 0
        while approximate < 1 << 20 {
            let payload = (0..<64).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            items.append(
                .map([
                    "id": .string("instance-\(index)"),
                    "n": .integer(IPLDInteger(Int64(truncatingIfNeeded: generator.next() >> 8))),
                    "x": .float(Double(index) * 1.5),
                    "ok": .bool(index % 2 == 0),
                    "data": .bytes(payload),
                    "ref": link,
                ])
            )
            approximate += 160
            index += 1
        }
        return .map(["items": .list(items), "count": .integer(IPLDInteger(Int64(index)))])
    }
}

/// A small deterministic generator so benchmark inputs are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
