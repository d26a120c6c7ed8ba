import DagCBOR
import Multiformats

/// The body of a DHT datagram: one of the RPC requests or their answers (Specs/dht.md).
public enum DHTMessage: Sendable, Equatable {
    case ping
    case findNode(target: DHTKey)
    case getProviders(key: DHTKey)
    case addProvider(ProviderRecord)
    case putPeer(PeerRecord)
    case getPeer(PeerID)

    /// Answer to `ping`: the endpoint the request came from, so a node learns how others see it.
    case pong(observed: UDPEndpoint)
    /// Answer to `findNode`: the closest contacts the server knows.
    case nodes(closer: [DHTContact])
    /// Answer to `getProviders`.
    case providers(records: [ProviderRecord], closer: [DHTContact])
    /// Answer to `addProvider` and `putPeer`: the record is stored.
    case stored
    /// Answer to `getPeer`: the newest record the server has (if any) and closer contacts.
    case peer(record: PeerRecord?, closer: [DHTContact])
    /// The server refused the request.
    case error(String)

    /// Most contacts or records one message may carry.
    static let maxItems = 32

    /// The wire names of the requests; every other operation is an answer.
    static let requestOperations: Set<String> = [
        "ping", "find_node", "get_providers", "add_provider", "put_peer", "get_peer",
    ]

    public var isRequest: Bool { Self.requestOperations.contains(operation) }

    /// The operation name on the wire.
    public var operation: String {
        switch self {
        case .ping: "ping"
        case .findNode: "find_node"
        case .getProviders: "get_providers"
        case .addProvider: "add_provider"
        case .putPeer: "put_peer"
        case .getPeer: "get_peer"
        case .pong: "pong"
        case .nodes: "nodes"
        case .providers: "providers"
        case .stored: "stored"
        case .peer: "peer"
        case .error: "error"
        }
    }

    var ipld: IPLD {
        var fields: [String: IPLD] = ["op": .string(operation)]
        switch self {
        case .ping, .stored: break
        case .findNode(let target): fields["key"] = .bytes(target.bytes)
        case .getProviders(let key): fields["key"] = .bytes(key.bytes)
        case .addProvider(let record): fields["record"] = record.ipld
        case .putPeer(let record): fields["record"] = record.ipld
        case .getPeer(let peer): fields["peer"] = .bytes(peer.bytes)
        case .pong(let observed): fields["observed"] = .bytes(observed.multiaddr.bytes)
        case .nodes(let closer): fields["closer"] = Self.contacts(closer)
        case .providers(let records, let closer):
            fields["records"] = .list(records.map(\.ipld))
            fields["closer"] = Self.contacts(closer)
        case .peer(let record, let closer):
            if let record { fields["record"] = record.ipld }
            fields["closer"] = Self.contacts(closer)
        case .error(let message): fields["message"] = .string(message)
        }
        return .map(fields)
    }

    private static func contacts(_ list: [DHTContact]) -> IPLD {
        .list(list.map { .map(["i": .bytes($0.peer.bytes), "a": .bytes($0.endpoint.multiaddr.bytes)]) })
    }

    private static func contacts(_ fields: [String: IPLD]) throws(DHTError) -> [DHTContact] {
        var out: [DHTContact] = []
        for item in try fields.list("closer", max: maxItems) {
            guard let contact = item.mapValue else { throw .malformed("a contact is a map") }
            try contact.allowOnly(["i", "a"], in: "contact")
            let address: Multiaddr
            do { address = try Multiaddr(bytes: try contact.bytes("a")) } catch let error as DHTError {
                throw error
            } catch { throw .malformed("contact address: \(error)") }
            out.append(DHTContact(peer: try contact.peer("i"), endpoint: try UDPEndpoint(address)))
        }
        return out
    }

    init(ipld: IPLD) throws(DHTError) {
        guard let fields = ipld.mapValue else { throw .malformed("the message body is a map") }
        let operation = try fields.string("op")
        func only(_ keys: Set<String>) throws(DHTError) { try fields.allowOnly(keys.union(["op"]), in: operation) }
        switch operation {
        case "ping":
            try only([])
            self = .ping
        case "stored":
            try only([])
            self = .stored
        case "find_node":
            try only(["key"])
            self = .findNode(target: try DHTKey(bytes: try fields.bytes("key")))
        case "get_providers":
            try only(["key"])
            self = .getProviders(key: try DHTKey(bytes: try fields.bytes("key")))
        case "add_provider":
            try only(["record"])
            guard let record = fields["record"] else { throw .malformed("missing 'record'") }
            self = .addProvider(try ProviderRecord(ipld: record))
        case "put_peer":
            try only(["record"])
            guard let record = fields["record"] else { throw .malformed("missing 'record'") }
            self = .putPeer(try PeerRecord(ipld: record))
        case "get_peer":
            try only(["peer"])
            self = .getPeer(try fields.peer("peer"))
        case "pong":
            try only(["observed"])
            do {
                self = .pong(observed: try UDPEndpoint(try Multiaddr(bytes: try fields.bytes("observed"))))
            } catch let error as DHTError { throw error } catch { throw .malformed("observed address: \(error)") }
        case "nodes":
            try only(["closer"])
            self = .nodes(closer: try Self.contacts(fields))
        case "providers":
            try only(["records", "closer"])
            var records: [ProviderRecord] = []
            for item in try fields.list("records", max: Self.maxItems) {
                records.append(try ProviderRecord(ipld: item))
            }
            self = .providers(records: records, closer: try Self.contacts(fields))
        case "peer":
            try only(["record", "closer"])
            self = .peer(
                record: try fields["record"].map { r throws(DHTError) in try PeerRecord(ipld: r) },
                closer: try Self.contacts(fields)
            )
        case "error":
            try only(["message"])
            self = .error(String(try fields.string("message").prefix(200)))
        default:
            throw .malformed("unknown operation '\(operation.prefix(40))'")
        }
    }
}
