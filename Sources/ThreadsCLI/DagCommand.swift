import ArgumentParser
import DagCBOR
import Foundation
import Multiformats
import Node

/// `threads dag …`: encode IPLD nodes and compute their CIDs.
struct DagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dag",
        abstract: "Work with IPLD DAG nodes (DAG-CBOR, DAG-JSON).",
        subcommands: [Put.self, Get.self]
    )

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a node from stdin, store it and print its CID.",
            discussion: """
                The input is decoded strictly with --input-codec, re-encoded canonically with \
                --store-codec, hashed with --hash and stored in the repo (unless --only-hash); the \
                printed CID is a CIDv1 in base32.
                """
        )

        @Option(help: "Codec of the input on stdin: dag-json or dag-cbor.")
        var inputCodec: String = "dag-json"

        @Option(help: "Codec the node is encoded with for its CID: dag-cbor or dag-json.")
        var storeCodec: String = "dag-cbor"

        @Option(help: "Hash function: sha2-256, sha2-512 or blake2b-256.")
        var hash: String = "sha2-256"

        @Flag(help: "Only compute the CID; do not store the block (no repo needed).")
        var onlyHash = false

        @OptionGroup var repoOptions: RepoOptions

        func run() async throws {
            let input = try DagCodecName(inputCodec, option: "--input-codec")
            let store = try DagCodecName(storeCodec, option: "--store-codec")
            let function = try hashFunction(named: hash)
            let bytes = readAllStdin()
            let block = try DagCommand.encodeBlock(bytes, from: input, to: store, hash: function)
            if !onlyHash, repoOptions.daemonRunning {
                _ = try await viaDaemon(
                    repoOptions,
                    "dag.put",
                    ["input-codec": inputCodec, "store-codec": storeCodec, "hash": hash, "data": Data(bytes)]
                )
            } else if !onlyHash {
                let repo = try repoOptions.open()
                do {
                    try repo.blockstore.put(block, sync: true)
                } catch {
                    throw CLIError("storing block \(block.cid): \(error)")
                }
            }
            print(block.cid.description)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a stored DAG node, decoded by its CID's codec and re-encoded for output."
        )

        @OptionGroup var repoOptions: RepoOptions

        @Argument(help: "The node's CID.")
        var cid: String

        @Option(help: "Output codec: dag-json (default) or dag-cbor.")
        var outputCodec: String = "dag-json"

        func run() async throws {
            let output = try DagCodecName(outputCodec, option: "--output-codec")
            let id = try parseCID(cid)
            if repoOptions.daemonRunning {
                writeStdout(
                    try await viaDaemon(repoOptions, "dag.get", ["cid": id.description, "output-codec": outputCodec])
                )
                return
            }
            let repo = try repoOptions.open()
            let bytes = try fetchBlock(repo, id)
            let value: IPLD
            do {
                value = try Block(cid: id, bytes: bytes).decode()
            } catch {
                throw CLIError("block \(id) cannot be decoded: \(error)")
            }
            do {
                switch output {
                case .dagJSON:
                    writeStdout(try DagJSON.encode(value) + [0x0a])
                case .dagCBOR:
                    writeStdout(try DagCBOR.encode(value))
                }
            } catch {
                throw CLIError("cannot encode block \(id) as \(output.rawValue): \(error)")
            }
        }
    }

    /// Decodes `bytes` strictly with one codec and re-encodes canonically with another.
    static func encodeBlock(
        _ bytes: [UInt8],
        from input: DagCodecName,
        to store: DagCodecName,
        hash: HashFunction
    ) throws -> Block {
        let value: IPLD
        do {
            switch input {
            case .dagJSON: value = try DagJSON.decode(bytes)
            case .dagCBOR: value = try DagCBOR.decode(bytes)
            }
        } catch {
            throw CLIError("invalid \(input.rawValue) input: \(error)")
        }
        do {
            return try Block(value: value, codec: store.code, hash: hash)
        } catch {
            throw CLIError("cannot encode the node as \(store.rawValue): \(error)")
        }
    }
}

/// The two IPLD codecs the CLI reads and writes.
enum DagCodecName: String, CaseIterable {
    case dagJSON = "dag-json"
    case dagCBOR = "dag-cbor"

    init(_ name: String, option: String) throws {
        guard let codec = DagCodecName(rawValue: name) else {
            throw CLIError("\(option): unknown codec '\(name)'; expected dag-json or dag-cbor")
        }
        self = codec
    }

    var code: UInt64 {
        switch self {
        case .dagJSON: Multicodec.dagJSON
        case .dagCBOR: Multicodec.dagCBOR
        }
    }
}

func hashFunction(named name: String) throws -> HashFunction {
    switch name {
    case "sha2-256": return .sha2_256
    case "sha2-512": return .sha2_512
    case "blake2b-256": return .blake2b_256
    default: throw CLIError("--hash: unknown hash function '\(name)'; expected sha2-256, sha2-512 or blake2b-256")
    }
}
