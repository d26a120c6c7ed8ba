import DHT
import Exchange
import Foundation
import Multiformats
import Threads
import ThreadsDB
import Transport

/// The commands behind the API's routes (`threads swarm …`, `threads dht …`, files, blocks, …).
extension ThreadsNode {

    public nonisolated func handle(_ request: [String: Any]) async -> [String: Any] {
        let dht = await self.dht
        func ok(_ result: Any) -> [String: Any] { ["ok": true, "result": result] }
        func failure(_ message: String, code: String = "bad_request") -> [String: Any] {
            ["ok": false, "error": message, "code": code]
        }
        func string(_ key: String) -> String? { request[key] as? String }
        func cid(_ key: String) throws -> CID {
            guard let text = string(key) else { throw NodeError("missing \(key)") }
            do { return try CID(text) } catch { throw NodeError("'\(text)' is not a CID: \(error)") }
        }

        do {
            switch string("command") {
            case "swarm.peers":
                var result: [[String: Any]] = []
                for peer in await manager.connectedPeers.sorted() {
                    var entry: [String: Any] = ["peerID": peer.description]
                    if let address = await manager.connection(to: peer)?.remoteAddress {
                        entry["address"] = address.description
                    }
                    result.append(entry)
                }
                return ok(result)
            case "swarm.connect":
                guard let target = string("address") else { return failure("missing address") }
                return ok(["peerID": try await connect(target).description])
            case "dht.find-peer":
                guard let dht else { return failure("the DHT is not running", code: "unavailable") }
                guard let text = string("peer") else { return failure("missing peer") }
                let peer: PeerID
                do { peer = try PeerID(text) } catch { return failure("'\(text)' is not a peer ID: \(error)") }
                guard let record = await dht.findPeer(peer) else {
                    return failure("no peer record found for \(peer)", code: "not_found")
                }
                return ok([
                    "peerID": peer.description, "sequence": record.sequence,
                    "addresses": record.addresses.map(\.description),
                ])
            case "dht.provide":
                guard let dht else { return failure("the DHT is not running", code: "unavailable") }
                let content = try cid("cid")
                let addresses = dialableAddresses.filter(\.isTCP)
                let stored = await dht.provide(content, addresses: addresses)
                return ok(["cid": content.description, "stored": stored])
            case "dht.providers":
                guard let dht else { return failure("the DHT is not running", code: "unavailable") }
                let content = try cid("cid")
                let wanted = (request["count"] as? Int) ?? 20
                let records = await dht.findProviders(content, wanted: max(1, wanted))
                return ok(
                    records.map { record -> [String: Any] in
                        [
                            "peerID": record.provider.description, "addresses": record.addresses.map(\.description),
                            "issued": record.issued,
                        ]
                    }
                )
            case "dht.table":
                guard let dht else { return failure("the DHT is not running", code: "unavailable") }
                let summary = await dht.tableSummary()
                let stats = await dht.stats
                return ok([
                    "peerID": summary.peer.description,
                    "address": summary.endpoint.description,
                    "size": summary.size,
                    "buckets": summary.buckets.map {
                        ["index": $0.index, "size": $0.size, "replacements": $0.replacements]
                    },
                    "providerRecords": summary.providerRecords,
                    "peerRecords": summary.peerRecords,
                    "provided": summary.provided,
                    "dropped": stats.dropped,
                ])
            case "add", "add.path":
                guard let path = string("path") else { return failure("missing path") }
                let chunkSize = (request["chunk-size"] as? Int) ?? FileDAG.defaultChunkSize
                guard chunkSize > 0, chunkSize <= 1 << 21 else {
                    return failure("chunk size must be between 1 byte and 2 MiB")
                }
                let (root, size, announced) = try await add(path: path, chunkSize: chunkSize)
                return ok(["cid": root.description, "size": size, "announced": announced])
            case "get", "get.save":
                let root = try cid("cid")
                guard let path = string("output") else { return failure("missing output") }
                let (written, seconds) = try await get(root, to: path)
                return ok(["cid": root.description, "bytes": written, "output": path, "fetchSeconds": seconds])
            case "exchange.stats":
                return ok([
                    "duplicateBlocks": await exchange.duplicateBlocks,
                    "unsolicitedBlocks": await exchange.unsolicitedBlocks,
                    "pid": Int(getpid()),
                ])
            case "exchange.ledger":
                return ok(
                    await exchange.ledgerSummaries.map { ledger -> [String: Any] in
                        [
                            "peerID": ledger.peer.description, "bytesSent": ledger.bytesSent,
                            "bytesReceived": ledger.bytesReceived, "blocksSent": ledger.blocksSent,
                            "blocksReceived": ledger.blocksReceived, "corruptBlocks": ledger.corruptBlocks,
                            "queuedWants": ledger.queuedWants,
                        ]
                    }
                )
            case "node.id":
                return ok([
                    "peerID": peerID.description,
                    "publicKey": Data(repo.identity.publicKey.protobufBytes).base64EncodedString(),
                    "addresses": dialableAddresses.map { "\($0)/p2p/\(peerID)" },
                ])
            case let command? where command.hasPrefix("block.") || command.hasPrefix("dag."):
                return ok(try blockCommand(command, request))
            case "metrics":
                return ok(await metrics())
            case let command? where command.hasPrefix("db."):
                return ok(try await dbCommand(command, request))
            case let command? where command.hasPrefix("thread."):
                return ok(try await threadCommand(command, request))
            case let other:
                return failure("unknown command \(other ?? "none")", code: "not_found")
            }
        } catch {
            return failure("\(error)", code: Self.errorCode(error))
        }
    }
}

extension ThreadsNode {
    /// The API error code for an error (`API.errorStatus` maps codes to HTTP statuses).
    public static func errorCode(_ error: any Error) -> String {
        switch error {
        case let error as NodeError: return error.code
        case let error as DBError:
            switch error {
            case .badJSON: return "bad_json"
            case .badSchema, .badCollectionName: return "bad_schema"
            case .schemaViolation: return "schema_violation"
            case .badInstance: return "bad_instance"
            case .badQuery: return "bad_query"
            case .unknownCollection, .instanceNotFound: return "not_found"
            case .collectionExists, .instanceExists: return "conflict"
            case .cannotRead: return "forbidden"
            case .threads: return "bad_request"
            case .malformedEvent, .store: return "internal"
            }
        case let error as ThreadsError:
            switch error {
            case .unknownThread, .unknownLog: return "not_found"
            case .notAllowed: return "forbidden"
            case .store: return "internal"
            default: return "bad_request"
            }
        case is MultiformatsError: return "bad_request"
        default: return "internal"
        }
    }
}
