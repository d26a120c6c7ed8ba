import DagCBOR
import Multiformats
import Sodium

/// An entry of an access-controlled thread's access log: admitting a member's log as a writer or
/// reader, or revoking one (which starts a new read-key epoch, sealed to every remaining member).
/// Entries ride in the `acl` field of records of the owner's log (Specs/threads.md, "Roles").
public enum AccessEntry: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable {
        case writer
        case reader
    }

    case admit(log: PeerID, role: Role)
    /// Records `0..<kept` of the revoked log stay valid (what the owner had accepted); later ones
    /// are refused. `keys`: the new epoch's read key sealed to each remaining member's log key.
    case revoke(log: PeerID, kept: UInt64, epoch: UInt32, keys: [PeerID: [UInt8]])

    var ipld: IPLD {
        switch self {
        case .admit(let log, let role):
            return .map(["op": .string("admit"), "log": .bytes(log.bytes), "role": .string(role.rawValue)])
        case .revoke(let log, let kept, let epoch, let keys):
            return .map([
                "op": .string("revoke"), "log": .bytes(log.bytes), "epoch": .integer(IPLDInteger(UInt64(epoch))),
                "kept": .integer(IPLDInteger(kept)),
                "keys": .list(
                    keys.sorted { $0.key < $1.key }.map {
                        .map(["log": .bytes($0.key.bytes), "box": .bytes($0.value)])
                    }
                ),
            ])
        }
    }

    init(ipld: IPLD) throws(ThreadsError) {
        guard let fields = ipld.mapValue, let op = fields["op"]?.stringValue, let raw = fields["log"]?.bytesValue,
            let log = try? PeerID(bytes: raw), log.ed25519PublicKey != nil
        else { throw .malformed("an access entry has op and an Ed25519 log") }
        switch op {
        case "admit":
            guard Set(fields.keys) == ["op", "log", "role"], let text = fields["role"]?.stringValue,
                let role = Role(rawValue: text)
            else { throw .malformed("an admit entry has exactly op, log, role (writer or reader)") }
            self = .admit(log: log, role: role)
        case "revoke":
            guard Set(fields.keys) == ["op", "log", "epoch", "kept", "keys"], let epoch = fields["epoch"]?.integerValue,
                let kept = fields["kept"]?.integerValue, !kept.isNegative,
                !epoch.isNegative, epoch.argument >= 1, epoch.argument <= UInt64(ThreadKey.maxEpochs),
                let list = fields["keys"]?.listValue, list.count <= 4096
            else { throw .malformed("a revoke entry has exactly op, log, epoch (≥ 1), kept, keys") }
            var keys: [PeerID: [UInt8]] = [:]
            for item in list {
                guard let entry = item.mapValue, let rawLog = entry["log"]?.bytesValue,
                    let member = try? PeerID(bytes: rawLog),
                    let box = entry["box"]?.bytesValue, box.count == SymmetricKey.length + SealedBox.overhead
                else { throw .malformed("a sealed key is {log, box}") }
                keys[member] = box
            }
            self = .revoke(log: log, kept: kept.argument, epoch: UInt32(epoch.argument), keys: keys)
        default:
            throw .malformed("unknown access entry '\(op.prefix(20))'")
        }
    }

    /// Seals `read` to each member's log key (Ed25519, converted to X25519).
    static func seal(_ read: SymmetricKey, to members: [PeerID]) throws(ThreadsError) -> [PeerID: [UInt8]] {
        var out: [PeerID: [UInt8]] = [:]
        for member in members {
            guard let raw = member.ed25519PublicKey, let x = try? Ed25519.PublicKey(rawRepresentation: raw).x25519()
            else {
                throw .invalidKey("member \(member) has no Ed25519 key to seal to")
            }
            out[member] = read.withUnsafeBytes { SealedBox.seal(Array($0), to: x) }
        }
        return out
    }

    /// Opens the read key sealed to `logKey`.
    static func open(_ box: [UInt8], with logKey: Ed25519.PrivateKey) -> SymmetricKey? {
        guard let bytes = try? SealedBox.open(box, with: logKey.x25519()) else { return nil }
        return try? SymmetricKey(bytes: bytes)
    }
}
