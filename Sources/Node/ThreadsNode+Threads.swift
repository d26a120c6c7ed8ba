import DagCBOR
import Foundation
import Multiformats
import Sodium
import Threads
import Transport

/// The `threads thread …` commands on the daemon.
extension ThreadsNode {
    /// The DHT key under which a thread's members announce themselves: an HMAC of the thread ID
    /// with the service key, so only members can compute it and the DHT does not learn which
    /// thread (or that there is one) a provider record is about.
    public static func rendezvous(_ thread: ThreadID, key: ThreadKey) -> CID {
        let mac = key.service.withUnsafeBytes {
            HMACSHA256.authenticate(Array("threads-members/1:".utf8) + thread.bytes, key: $0)
        }
        // A 32-byte digest under the sha2-256 code always makes a valid multihash.
        return CID.v1(codec: Multicodec.raw, multihash: try! Multihash(code: HashFunction.sha2_256.code, digest: mac))
    }

    /// Announces this node as a member of `thread` in the DHT (republished with the DHT's other
    /// provider records).
    func announce(_ thread: ThreadID, key: ThreadKey) async {
        let tcp = dialableAddresses.filter(\.isTCP)
        await dht?.provide(Self.rendezvous(thread, key: key), addresses: tcp)
    }

    /// Members of `thread` found through the DHT.
    func findMembers(_ thread: ThreadID, key: ThreadKey) async -> [(PeerID, [Multiaddr])] {
        guard let dht else { return [] }
        return await dht.findProviders(Self.rendezvous(thread, key: key)).filter { $0.provider != peerID }
            .map { ($0.provider, $0.addresses) }
    }

    /// Announces every thread this node holds (after joining the DHT).
    func announceAll() async {
        for thread in (try? logstore.threads()) ?? [] {
            if let key = try? logstore.key(of: thread) { await announce(thread, key: key) }
        }
    }

    nonisolated func threadCommand(_ command: String, _ request: [String: Any]) async throws -> Any {
        func thread() throws -> ThreadID {
            guard let text = request["id"] as? String else { throw NodeError("missing thread id") }
            let id = try ThreadID(text)
            guard try logstore.key(of: id) != nil else { throw ThreadsError.unknownThread(id) }
            return id
        }
        switch command {
        case "thread.create":
            let variant: ThreadID.Variant = (request["raw"] as? Bool) == true ? .raw : .accessControlled
            let id = ThreadID(variant: variant)
            let key = ThreadKey()
            let ownLog = Ed25519.PrivateKey()
            try logstore.addThread(id, key: key, owner: variant == .accessControlled ? ownLog.publicKey.peerID : nil)
            try logstore.setOwnLogKey(ownLog, in: id)
            let log = ownLog.publicKey.peerID
            Task { await self.announce(id, key: key) }
            return [
                "id": id.description, "log": log.description, "variant": variant == .raw ? "raw" : "access-controlled",
            ]
        case "thread.list":
            return try logstore.threads().map(\.description)
        case "thread.info":
            let id = try thread()
            let key = try logstore.key(of: id)
            let logs = try logstore.heads(of: id).sorted { $0.key < $1.key }.map { log, head -> [String: Any] in
                ["log": log.description, "records": head.sequence + 1, "head": head.cid.description]
            }
            return [
                "id": id.description, "canRead": key?.canRead ?? false, "logs": logs,
                "members": try logstore.members(of: id).map(\.description),
                "ownLog": try logstore.ownLogKey(in: id).publicKey.peerID.description,
            ]
        case "thread.members":
            let id = try thread()
            let peers = try logstore.members(of: id).map { peer -> [String: Any] in
                [
                    "peerID": peer.description,
                    "addresses": (try? logstore.addresses(of: peer, in: id).map(\.description)) ?? [],
                ]
            }
            let logs = try logstore.roles(in: id).sorted { $0.key < $1.key }.map { log, role -> [String: Any] in
                ["log": log.description, "role": role.rawValue]
            }
            return ["peers": peers, "logs": logs]
        case "thread.delete":
            let id = try thread()
            try await db.deleteAll(id)
            try logstore.deleteThread(id)
            return ["deleted": id.description]
        case "thread.forget":
            let id = try thread()
            guard let text = request["peer"] as? String, let peer = try? PeerID(text) else {
                throw NodeError("forget needs the member's peer ID (see `threads thread members`)")
            }
            guard try logstore.removeMember(peer, from: id) else {
                throw NodeError("\(peer) is not a member of \(id) (see `threads thread members`)")
            }
            return ["forgotten": peer.description, "id": id.description]
        case "thread.revoke":
            let id = try thread()
            guard let text = request["log"] as? String, let log = try? PeerID(text) else {
                throw NodeError("revoke needs the member's log ID (see `threads thread members`)")
            }
            let (record, blocks) = try logstore.revoke(log, in: id)
            await replicator.push(blocks, thread: id)
            return [
                "revoked": log.description, "epoch": (try logstore.key(of: id))?.epoch ?? 0,
                "record": record.cid.description,
            ]
        case "thread.invite":
            let id = try thread()
            guard let roleText = request["role"] as? String, let role = Invite.Role(rawValue: roleText) else {
                throw NodeError("role must be one of \(Invite.Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let key = try logstore.key(of: id) else { throw ThreadsError.unknownThread(id) }
            guard
                let address = dialableAddresses.first(where: \.isTCP)
            else {
                throw NodeError("this node has no TCP address to put in an invite")
            }
            let inviter = try address.encapsulate(Multiaddr("/p2p/\(peerID)"))
            guard id.variant == .accessControlled else {
                return try Invite(address: inviter, thread: id, role: role, key: key).description
            }
            let owner = try logstore.owner(of: id)
            guard role != .replica else {
                return try Invite(address: inviter, thread: id, role: role, key: key, owner: owner).description
            }
            // Writers and readers are admitted in the access log before the invite exists, under a
            // log key the invite hands over, so joining needs nobody online but a member.
            let admitted = try logstore.admit(role == .writer ? .writer : .reader, in: id)
            await replicator.push(admitted.blocks, thread: id)
            return try Invite(address: inviter, thread: id, role: role, key: key, owner: owner, logKey: admitted.logKey)
                .description
        case "thread.join":
            guard let text = request["invite"] as? String else { throw NodeError("missing invite") }
            let invite = try Invite(text)
            if let existing = try logstore.key(of: invite.thread), existing.canRead || !invite.key.canRead {
                // Already a member with at least these keys: just replicate.
            } else {
                try logstore.addThread(invite.thread, key: invite.key, owner: invite.owner)
                if let logKey = invite.logKey { try logstore.setOwnLogKey(logKey, in: invite.thread) }
            }
            try logstore.addMember(invite.inviter, to: invite.thread, addresses: [invite.address])
            var fetched = 0
            var via = "inviter"
            do {
                _ = try await manager.connect(invite.address)
                fetched = await replicator.pull(invite.thread, from: invite.inviter)
            } catch {
                // The inviter is offline: any other member serves a newcomer.
                via = "dht"
                var reached = false
                for (peer, addresses) in await findMembers(invite.thread, key: invite.key) where peer != invite.inviter
                {
                    guard (try? await manager.connect(to: peer, addresses: addresses)) != nil else { continue }
                    try? logstore.addMember(peer, to: invite.thread, addresses: addresses)
                    fetched += await replicator.pull(invite.thread, from: peer)
                    reached = true
                }
                guard reached else {
                    throw NodeError(
                        "cannot reach the inviter (\(error)) and the DHT knows no other member of the thread"
                    )
                }
            }
            // Announced before returning: from now on, newcomers can find this member.
            await announce(invite.thread, key: try logstore.key(of: invite.thread) ?? invite.key)
            return ["id": invite.thread.description, "role": invite.role.rawValue, "records": fetched, "via": via]
        case "thread.add-record":
            let id = try thread()
            guard let body = request["body"] as? String else { throw NodeError("missing body") }
            guard (try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed])) != nil else {
                throw NodeError("the record body is not valid JSON")
            }
            let (record, blocks) = try logstore.append(Array(body.utf8), to: id)
            await replicator.push(blocks, thread: id)
            return ["log": record.log.description, "seq": record.sequence, "cid": record.cid.description]
        case "thread.records":
            let id = try thread()
            var out: [[String: Any]] = []
            for log in try logstore.heads(of: id).keys.sorted() {
                for (sequence, entry) in try logstore.entries(of: log, in: id) {
                    var item: [String: Any] = [
                        "log": log.description, "seq": sequence, "cid": entry.record.description,
                    ]
                    if let acl = logstore.accessEntry(of: entry, in: id) {
                        switch acl {
                        case .admit(let member, let role):
                            item["acl"] = ["op": "admit", "log": member.description, "role": role.rawValue]
                        case .revoke(let member, let kept, let epoch, _):
                            item["acl"] = ["op": "revoke", "log": member.description, "kept": kept, "epoch": epoch]
                        }
                    } else if let (header, body) = try? logstore.read(entry, in: id) {
                        item["time"] = header.time
                        item["clock"] = header.clock.description
                        item["body"] =
                            (try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]))
                            ?? NSNull()
                    }
                    out.append(item)
                }
            }
            return out
        default:
            throw NodeError("unknown command \(command)")
        }
    }
}
