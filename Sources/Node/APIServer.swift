import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Sodium
import Threads
import ThreadsAPI
import ThreadsDB

/// The daemon's HTTP/JSON API (Specs/api.yaml): every route of `API.routes`, behind a bearer
/// token, answered by the node's command handlers.
public enum APIServer {
    /// Largest JSON request body (instances, queries, transactions).
    public static let maxJSONBody = 16 << 20

    /// The Hummingbird application serving `node` on `host:port`. `token` nil turns authentication
    /// off (the daemon allows that only on loopback). `onRunning` gets the bound host and port.
    public static func application(
        node: ThreadsNode,
        host: String,
        port: Int,
        token: String?,
        logger: Logger,
        onRunning: @escaping @Sendable (String, Int) async -> Void
    ) -> some ApplicationProtocol & Service {
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        if let token { router.add(middleware: BearerTokenMiddleware(token: token)) }
        for route in API.routes {
            let method = HTTPRequest.Method(rawValue: route.method)!
            router.on(RouterPath(route.path), method: method) { request, context in
                try await respond(route, request, context, node: node)
            }
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "threadsd"),
            onServerRunning: { channel in
                await onRunning(host, channel.localAddress?.port ?? port)
            },
            logger: logger
        )
    }

    static func respond(_ route: APIRoute, _ request: Request, _ context: BasicRequestContext, node: ThreadsNode)
        async throws -> Response
    {
        var request = request
        var fields: [String: Any] = ["command": route.command]
        let repeatable: Set<String> = ["collection", "action", "instance"]
        for (key, value) in request.uri.queryParameters {
            let key = String(key)
            // The path names what the request is about: neither the query nor a body can say
            // otherwise.
            if route.parameters.contains(key) { continue }
            if route.command == "db.listen", repeatable.contains(key) {
                fields[key + "s", default: [String]()] = (fields[key + "s"] as? [String] ?? []) + [String(value)]
            } else {
                fields[key] = typed(key, String(value))
            }
        }
        for name in route.parameters {
            guard let raw = context.parameters.get(name) else { continue }
            fields[name] = raw.removingPercentEncoding ?? raw
        }
        switch route.command {
        case "db.listen":
            return try await listen(fields, node: node)
        case "add":
            return try await upload(&request, fields, context: context, node: node)
        case "get":
            return try await download(fields, node: node)
        default:
            break
        }
        switch route.body {
        case .json(let field)?:
            let body = try await collect(&request, limit: maxJSONBody)
            // No body: the handler's default (an empty query finds everything).
            guard !body.isEmpty else { break }
            guard let text = String(validating: body, as: UTF8.self) else {
                throw APIError("bad_json", "the request body is not UTF-8 text")
            }
            fields[field] = text
        case .bytes(let field)?:
            fields[field] = Data(try await collect(&request, limit: ThreadsNode.maxBlockSize))
        case nil:
            if route.method == "POST" || route.method == "PUT" {
                let body = try await collect(&request, limit: maxJSONBody)
                if !body.isEmpty { try merge(body, into: &fields, keeping: Set(route.parameters)) }
            }
        }
        return reply(await node.handle(fields), route)
    }

    /// Query-string values of the flags and counts the handlers read as such.
    static func typed(_ key: String, _ value: String) -> Any {
        if ["raw", "explain", "only-hash"].contains(key) { return value == "true" || value == "1" }
        if ["count", "chunk-size"].contains(key), let number = Int(value) {
            return number
        }
        return value
    }

    /// A JSON object body's members as handler fields: strings, whole numbers, booleans and lists
    /// of strings as such; other values as their JSON text (which the handlers parse). Members
    /// named in `fixed` (the path's parameters) are left out.
    static func merge(_ body: [UInt8], into fields: inout [String: Any], keeping fixed: Set<String>) throws {
        let value: JSON
        do { value = try JSON(parsing: body) } catch { throw APIError("bad_json", "\(error)") }
        guard case .object(let members) = value else {
            throw APIError("bad_request", "the request body must be a JSON object")
        }
        for (key, member) in members where key != "command" && !fixed.contains(key) {
            switch member {
            case .null: continue
            case .string(let text): fields[key] = text
            case .bool(let flag): fields[key] = flag
            case .number(let number) where number.rounded() == number && abs(number) < 1e15: fields[key] = Int(number)
            case .array(let items) where items.allSatisfy({ $0.stringValue != nil }):
                fields[key] = items.compactMap(\.stringValue)
            default: fields[key] = member.serialized
            }
        }
    }

    static func collect(_ request: inout Request, limit: Int) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError("payload_too_large", "the request body is larger than \(limit) bytes")
        }
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch {
            throw APIError("payload_too_large", "the request body is larger than \(limit) bytes")
        }
    }

    /// A handler's answer as an HTTP response.
    static func reply(_ answer: [String: Any], _ route: APIRoute) -> Response {
        guard answer["ok"] as? Bool == true else {
            let code = answer["code"] as? String ?? "bad_request"
            return APIError(code, answer["error"] as? String ?? "failed").response
        }
        let result = answer["result"] ?? NSNull()
        if let text = result as? String, route.command == "metrics" {
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text))
            )
        }
        if let data = result as? Data {
            return Response(
                status: .ok,
                headers: [.contentType: "application/octet-stream"],
                body: .init(byteBuffer: ByteBuffer(bytes: data))
            )
        }
        if let object = result as? [String: Any], object.count == 1, let text = object["json"] as? String {
            return json(text)
        }
        let data =
            (try? JSONSerialization.data(
                withJSONObject: result,
                options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]
            )) ?? Data("null".utf8)
        return json(String(decoding: data, as: UTF8.self))
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: text + "\n"))
        )
    }

    // MARK: - Streams

    /// `POST /v0/files`: the body goes to a file in the repo (never all in memory), then is added.
    static func upload(
        _ request: inout Request,
        _ fields: [String: Any],
        context: BasicRequestContext,
        node: ThreadsNode
    )
        async throws -> Response
    {
        let directory = node.repo.path + "/tmp"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/upload-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw APIError("internal", "cannot write \(path)") }
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            for try await buffer in request.body {
                try handle.write(contentsOf: Data(buffer.readableBytesView))
            }
            try handle.close()
        } catch {
            try? handle.close()
            throw APIError("bad_request", "reading the upload: \(error)")
        }
        var fields = fields
        fields["path"] = path
        return reply(await node.handle(fields), API.route(for: "add")!)
    }

    /// `GET /v0/files/{cid}`: fetches the file (from the network as needed), then streams it.
    static func download(_ fields: [String: Any], node: ThreadsNode) async throws -> Response {
        let directory = node.repo.path + "/tmp"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/download-\(UUID().uuidString)"
        var fields = fields
        fields["output"] = path
        let answer = await node.handle(fields)
        guard answer["ok"] as? Bool == true, let handle = FileHandle(forReadingAtPath: path) else {
            try? FileManager.default.removeItem(atPath: path)
            return reply(answer, API.route(for: "get")!)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        let body = ResponseBody(contentLength: size) { writer in
            defer {
                try? handle.close()
                try? FileManager.default.removeItem(atPath: path)
            }
            while let chunk = try handle.read(upToCount: 256 << 10), !chunk.isEmpty {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: body)
    }

    /// `GET /v0/threads/{id}/listen`: changes as Server-Sent Events (`event: change`, `data:` the
    /// change as JSON), after a first `: listening` comment that says the listener is in place.
    static func listen(_ fields: [String: Any], node: ThreadsNode) async throws -> Response {
        guard let text = fields["id"] as? String else { throw APIError("bad_request", "missing thread id") }
        let thread: ThreadID
        do {
            thread = try ThreadID(text)
            guard try node.logstore.key(of: thread) != nil else {
                throw APIError("not_found", "unknown thread \(thread)")
            }
            _ = try node.db.reader(thread)
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(ThreadsNode.errorCode(error), "\(error)")
        }
        var filter = ChangeFilter()
        filter.collections = Set(fields["collections"] as? [String] ?? [])
        filter.instanceIDs = Set(fields["instances"] as? [String] ?? [])
        for action in fields["actions"] as? [String] ?? [] {
            guard let parsed = DBChange.Action(rawValue: action) else {
                throw APIError("bad_request", "unknown action \(action): use create, save or delete")
            }
            filter.actions.insert(parsed)
        }
        let changes = await node.db.changes(in: thread, filter: filter)
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: ": listening\n\n"))
            // A listener ends with its client, or when the daemon shuts down.
            for try await change in changes.cancelOnGracefulShutdown() {
                let event = ServerSentEvent(event: "change", data: change.json.serialized, id: nil)
                try await writer.write(ByteBuffer(string: SSEParser.encode(event)))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: body
        )
    }
}

/// An API failure: a stable code (`API.errorStatus`) and a message.
struct APIError: Error, HTTPResponseError {
    let code: String
    let message: String

    init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    var status: HTTPResponse.Status { .init(code: API.errorStatus[code] ?? 400) }

    var response: Response {
        let body = JSON.object(["error": .object(["code": .string(code), "message": .string(message)])])
        var response = APIServer.json(body.serialized, status: status)
        if code == "unauthorized" { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }

    func response(from request: Request, context: some RequestContext) throws -> Response { response }
}

/// Every error leaves as JSON with a code, Hummingbird's own (no route, bad method) included.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as HTTPError {
            let code =
                error.status == .notFound ? "not_found" : error.status.code == 405 ? "bad_request" : "bad_request"
            return APIError(code, error.body ?? "\(error.status.reasonPhrase)").response
        }
    }
}

/// Refuses any request without `Authorization: Bearer <token>` (compared in constant time).
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let given = request.headers[.authorization] ?? ""
        let expected = "Bearer " + token
        guard given.utf8.count == expected.utf8.count,
            Sodium.constantTimeEqual(Array(given.utf8), Array(expected.utf8))
        else {
            return APIError("unauthorized", "a valid bearer token is required (see <repo>/api.token)").response
        }
        return try await next(request, context)
    }
}
