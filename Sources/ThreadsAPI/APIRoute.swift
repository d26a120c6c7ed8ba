/// One route of the daemon's HTTP/JSON API (Specs/api.yaml), shared by the server and the `threads`
/// client so the two cannot drift apart.
///
/// A request is a command name and named fields. Path parameters (`{id}`) come from the fields of
/// the same name; with a `body`, one field travels as the whole request body (JSON text kept
/// exactly, or raw bytes); the other fields go in the query string (GET, DELETE, and requests with
/// a body) or in a JSON object body.
public struct APIRoute: Sendable, Equatable {
    public enum Body: Sendable, Equatable {
        /// The field is JSON text sent as the body (`application/json`).
        case json(String)
        /// The field is bytes sent as the body (`application/octet-stream`).
        case bytes(String)
    }

    public enum Reply: Sendable, Equatable {
        /// A JSON value.
        case json
        /// Raw bytes (blocks, files).
        case bytes
        /// A stream of Server-Sent Events.
        case events
    }

    public let method: String
    public let path: String
    public let command: String
    public let body: Body?
    public let reply: Reply
    public let summary: String

    public init(
        _ method: String,
        _ path: String,
        _ command: String,
        body: Body? = nil,
        reply: Reply = .json,
        _ summary: String
    ) {
        self.method = method
        self.path = path
        self.command = command
        self.body = body
        self.reply = reply
        self.summary = summary
    }

    /// The names of the path's `{parameters}`, in order.
    public var parameters: [String] {
        path.split(separator: "/").compactMap { part in
            part.hasPrefix("{") && part.hasSuffix("}") ? String(part.dropFirst().dropLast()) : nil
        }
    }

    /// The path with each `{parameter}` replaced by its percent-encoded value.
    public func path(with values: [String: String]) -> String {
        "/"
            + path.split(separator: "/").map { part -> String in
                guard part.hasPrefix("{"), part.hasSuffix("}") else { return String(part) }
                return APIRoute.percentEncode(values[String(part.dropFirst().dropLast())] ?? "")
            }.joined(separator: "/")
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    public static func percentEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)])
            }
        }
        return out
    }
}

/// The API's routes and conventions.
public enum API {
    /// Every route. Paths are versioned (`/v0/`); `/metrics` is Prometheus' customary path.
    public static let routes: [APIRoute] = [
        APIRoute("GET", "/v0/id", "node.id", "This node's peer ID and addresses."),
        APIRoute("GET", "/v0/peers", "swarm.peers", "Connected peers: [{peerID, address}]."),
        APIRoute("POST", "/v0/peers", "swarm.connect", "Connect to {address}: a multiaddr or a peer ID."),
        APIRoute("GET", "/v0/dht/peers/{peer}", "dht.find-peer", "A peer's addresses from its DHT record."),
        APIRoute("POST", "/v0/dht/provide", "dht.provide", "Announce this node as a provider of {cid}."),
        APIRoute("GET", "/v0/dht/providers/{cid}", "dht.providers", "Providers of a CID (?count=N)."),
        APIRoute("GET", "/v0/dht/table", "dht.table", "The routing table and DHT counters."),
        APIRoute("GET", "/v0/exchange/stats", "exchange.stats", "Block exchange counters."),
        APIRoute("GET", "/v0/exchange/ledger", "exchange.ledger", "Per-peer block exchange ledgers."),
        APIRoute(
            "POST",
            "/v0/blocks",
            "block.put",
            body: .bytes("data"),
            "Store the body as one block (?codec=raw|dag-cbor&hash=…); returns {cid}."
        ),
        APIRoute("GET", "/v0/blocks/{cid}", "block.get", reply: .bytes, "A block's bytes."),
        APIRoute("GET", "/v0/blocks/{cid}/stat", "block.stat", "{cid, size} of a stored block."),
        APIRoute("DELETE", "/v0/blocks/{cid}", "block.rm", "Remove a block."),
        APIRoute(
            "POST",
            "/v0/dag",
            "dag.put",
            body: .bytes("data"),
            "Store a DAG node (?input-codec=dag-json|dag-cbor&store-codec=…&hash=…&only-hash=…); returns {cid}."
        ),
        APIRoute("GET", "/v0/dag/{cid}", "dag.get", reply: .bytes, "A DAG node (?output-codec=dag-json|dag-cbor)."),
        APIRoute(
            "POST",
            "/v0/files",
            "add",
            body: .bytes("data"),
            "Add the body as a file (?chunk-size=N); returns {cid, size, announced}."
        ),
        APIRoute(
            "POST",
            "/v0/files/import",
            "add.path",
            "Add the file at {path}, a path on the daemon's machine (?chunk-size=N); returns {cid, size, announced}."
        ),
        APIRoute("GET", "/v0/files/{cid}", "get", reply: .bytes, "A file's bytes, fetched from the network as needed."),
        APIRoute(
            "POST",
            "/v0/files/{cid}/save",
            "get.save",
            "Fetch a file and write it to {output}, a path on the daemon's machine; returns {bytes, fetchSeconds}."
        ),
        APIRoute("GET", "/v0/threads", "thread.list", "Thread IDs."),
        APIRoute("POST", "/v0/threads", "thread.create", "Create a thread ({raw: bool}); returns {id, log, variant}."),
        APIRoute("POST", "/v0/threads/join", "thread.join", "Join by {invite}."),
        APIRoute("GET", "/v0/threads/{id}", "thread.info", "A thread's logs, heads and members."),
        APIRoute("DELETE", "/v0/threads/{id}", "thread.delete", "Remove a thread and its data from this node."),
        APIRoute("GET", "/v0/threads/{id}/members", "thread.members", "Peers and every log's role."),
        APIRoute(
            "POST",
            "/v0/threads/{id}/invites",
            "thread.invite",
            "An invite for {role}: writer, reader or replica."
        ),
        APIRoute("POST", "/v0/threads/{id}/revoke", "thread.revoke", "Revoke the member with {log} (owner only)."),
        APIRoute(
            "POST",
            "/v0/threads/{id}/forget",
            "thread.forget",
            "Stop replicating the thread with the member {peer}."
        ),
        APIRoute("GET", "/v0/threads/{id}/records", "thread.records", "Every record, decrypted when possible."),
        APIRoute(
            "POST",
            "/v0/threads/{id}/records",
            "thread.add-record",
            body: .json("body"),
            "Append the JSON body as a raw record."
        ),
        APIRoute(
            "GET",
            "/v0/threads/{id}/collections",
            "db.collection.list",
            "Collections: [{name, schema, indexes}]."
        ),
        APIRoute(
            "POST",
            "/v0/threads/{id}/collections",
            "db.collection.create",
            "Create {collection, schema, indexes}."
        ),
        APIRoute(
            "PUT",
            "/v0/threads/{id}/collections/{collection}",
            "db.collection.update",
            "Replace a collection's {schema, indexes}."
        ),
        APIRoute(
            "POST",
            "/v0/threads/{id}/collections/{collection}/instances",
            "db.create",
            body: .json("instances"),
            "Create instances (an object or an array, one transaction); returns their _ids."
        ),
        APIRoute(
            "PUT",
            "/v0/threads/{id}/collections/{collection}/instances",
            "db.save",
            body: .json("instances"),
            "Save instances (an object or an array with _ids, one transaction)."
        ),
        APIRoute(
            "POST",
            "/v0/threads/{id}/collections/{collection}/delete",
            "db.delete",
            "Delete the instances with {ids} (one transaction)."
        ),
        APIRoute(
            "GET",
            "/v0/threads/{id}/collections/{collection}/instances/{instance}",
            "db.get",
            "One instance by _id."
        ),
        APIRoute(
            "GET",
            "/v0/threads/{id}/collections/{collection}/instances/{instance}/exists",
            "db.has",
            "Whether an instance exists."
        ),
        APIRoute(
            "POST",
            "/v0/threads/{id}/collections/{collection}/find",
            "db.find",
            body: .json("query"),
            "Run a query {filter, sort, skip, limit} (?explain=true adds the plan)."
        ),
        APIRoute(
            "POST",
            "/v0/threads/{id}/transactions",
            "db.write",
            body: .json("actions"),
            "Apply a transaction: a JSON array of actions, all or none."
        ),
        APIRoute("GET", "/v0/threads/{id}/digest", "db.digest", "A hash of the materialised state."),
        APIRoute(
            "GET",
            "/v0/threads/{id}/listen",
            "db.listen",
            reply: .events,
            "Changes as Server-Sent Events (?collection=&action=&instance=, each repeatable)."
        ),
        APIRoute("GET", "/metrics", "metrics", "Prometheus text format: peers, blocks, records, lag, DHT."),
    ]

    public static func route(for command: String) -> APIRoute? {
        routes.first { $0.command == command }
    }

    /// Stable error codes and the HTTP status each maps to.
    public static let errorStatus: [String: Int] = [
        "bad_request": 400, "bad_json": 400, "bad_query": 400, "bad_schema": 400, "schema_violation": 422,
        "bad_instance": 422, "unauthorized": 401, "not_found": 404, "conflict": 409, "forbidden": 403,
        "payload_too_large": 413, "unavailable": 503, "internal": 500,
    ]

    /// The file in the repo that holds the API's URL while the daemon runs.
    public static func addressFile(repo: String) -> String { repo + "/api" }
    /// The file in the repo that holds the bearer token (mode 0600).
    public static func tokenFile(repo: String) -> String { repo + "/api.token" }
}
