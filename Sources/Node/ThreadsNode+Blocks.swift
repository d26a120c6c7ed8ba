import DagCBOR
import Foundation
import Multiformats
import Store

/// `threads block …` and `threads dag …` on the daemon (the repo is locked while it runs).
extension ThreadsNode {
    /// The largest block the network carries (the exchange's limit).
    public static let maxBlockSize = 2 * 1024 * 1024

    nonisolated func blockCommand(_ command: String, _ request: [String: Any]) throws -> Any {
        func cid() throws -> CID {
            guard let text = request["cid"] as? String else { throw NodeError("missing cid") }
            do { return try CID(text) } catch { throw NodeError("'\(text)' is not a CID: \(error)") }
        }
        func data() throws -> [UInt8] {
            guard let data = request["data"] as? Data else { throw NodeError("missing body") }
            guard data.count <= Self.maxBlockSize else {
                throw NodeError(
                    "input is larger than \(Self.maxBlockSize) bytes, the largest block the network carries",
                    code: "payload_too_large"
                )
            }
            return [UInt8](data)
        }
        func stored(_ id: CID) throws -> [UInt8] {
            guard let bytes = try repo.blockstore.get(id, verify: true) else {
                throw NodeError("block \(id) not found", code: "not_found")
            }
            return bytes
        }
        let hash = try Self.hashFunction(named: request["hash"] as? String ?? "sha2-256")
        switch command {
        case "block.put":
            let bytes = try data()
            let codec: UInt64
            switch request["codec"] as? String ?? "raw" {
            case "raw": codec = Multicodec.raw
            case "dag-cbor":
                codec = Multicodec.dagCBOR
                do { _ = try DagCBOR.decode(bytes) } catch { throw NodeError("input is not valid DAG-CBOR: \(error)") }
            case let other: throw NodeError("codec: unknown codec '\(other)'; expected raw or dag-cbor")
            }
            let id = CID.v1(codec: codec, multihash: try Multihash.hash(bytes, using: hash))
            try repo.blockstore.put(Block(unchecked: id, bytes: bytes), sync: true)
            return ["cid": id.description]
        case "block.get":
            return Data(try stored(try cid()))
        case "block.stat":
            let id = try cid()
            guard let size = try repo.blockstore.size(of: id) else {
                throw NodeError("block \(id) not found", code: "not_found")
            }
            return ["cid": id.description, "size": size]
        case "block.rm":
            let id = try cid()
            guard try repo.blockstore.delete(id, sync: true) else {
                throw NodeError("block \(id) not found", code: "not_found")
            }
            return ["removed": id.description]
        case "dag.put":
            let input = try Self.dagCodec(request["input-codec"] as? String ?? "dag-json", option: "input-codec")
            let output = try Self.dagCodec(request["store-codec"] as? String ?? "dag-cbor", option: "store-codec")
            let block = try Self.encodeBlock(try data(), from: input, to: output, hash: hash)
            if (request["only-hash"] as? Bool) != true { try repo.blockstore.put(block, sync: true) }
            return ["cid": block.cid.description]
        case "dag.get":
            let id = try cid()
            let output = try Self.dagCodec(request["output-codec"] as? String ?? "dag-json", option: "output-codec")
            let value: IPLD
            do { value = try Block(cid: id, bytes: try stored(id)).decode() } catch let error as NodeError {
                throw error
            } catch {
                throw NodeError("block \(id) cannot be decoded: \(error)")
            }
            return Data(output == Multicodec.dagJSON ? try DagJSON.encode(value) + [0x0a] : try DagCBOR.encode(value))
        default:
            throw NodeError("unknown command \(command)", code: "not_found")
        }
    }

    /// A hash function by its multihash name.
    public static func hashFunction(named name: String) throws -> HashFunction {
        switch name {
        case "sha2-256": return .sha2_256
        case "sha2-512": return .sha2_512
        case "blake2b-256": return .blake2b_256
        default: throw NodeError("hash: unknown hash function '\(name)'; expected sha2-256, sha2-512 or blake2b-256")
        }
    }

    /// The multicodec of `dag-json` or `dag-cbor`.
    public static func dagCodec(_ name: String, option: String) throws -> UInt64 {
        switch name {
        case "dag-json": return Multicodec.dagJSON
        case "dag-cbor": return Multicodec.dagCBOR
        default: throw NodeError("\(option): unknown codec '\(name)'; expected dag-json or dag-cbor")
        }
    }

    /// Decodes `bytes` strictly with one IPLD codec and re-encodes canonically with another.
    public static func encodeBlock(_ bytes: [UInt8], from input: UInt64, to output: UInt64, hash: HashFunction) throws
        -> Block
    {
        let value: IPLD
        do {
            value = input == Multicodec.dagJSON ? try DagJSON.decode(bytes) : try DagCBOR.decode(bytes)
        } catch {
            throw NodeError("invalid \(input == Multicodec.dagJSON ? "dag-json" : "dag-cbor") input: \(error)")
        }
        do {
            return try Block(value: value, codec: output, hash: hash)
        } catch {
            throw NodeError(
                "cannot encode the node as \(output == Multicodec.dagJSON ? "dag-json" : "dag-cbor"): \(error)"
            )
        }
    }
}
