import Foundation
import Node
import ThreadsAPI

/// How the CLI reaches the daemon: its HTTP API, at the address the daemon records in the repo
/// (`<repo>/api`) or `--api`, with the token from `<repo>/api.token` or `--token`.
struct APIContext: Sendable {
    let client: HTTPClient
    let url: String

    enum Failure: Error, CustomStringConvertible {
        case notRunning(repo: String)
        case badAddress(String)

        var description: String {
            switch self {
            case .notRunning(let repo):
                "no threadsd is running for the repo at \(repo) (start one with `threadsd --repo \(repo)`)"
            case .badAddress(let text): "--api: expected http://HOST:PORT, not \(text)"
            }
        }
    }

    /// The daemon serving the repo at `path`.
    static func resolve(repo path: String) throws -> APIContext {
        try resolve(path: path, api: nil, token: nil)
    }

    /// The daemon serving the repo of `options`, or `--api`.
    static func resolve(_ options: RepoOptions) throws -> APIContext {
        try resolve(path: options.path, api: options.api, token: options.token)
    }

    static func resolve(path: String, api: String?, token given: String?) throws -> APIContext {
        let text: String
        if let given = api {
            text = given
        } else {
            guard let data = FileManager.default.contents(atPath: API.addressFile(repo: path)),
                Repo.isInUse(at: path)
            else {
                throw Failure.notRunning(repo: path)
            }
            text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard text.hasPrefix("http://") else { throw Failure.badAddress(text) }
        let authority = text.dropFirst("http://".count).split(separator: "/").first.map(String.init) ?? ""
        let host: String
        let portText: Substring
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            portText = authority[authority.index(after: close)...].dropFirst()
        } else {
            let parts = authority.split(separator: ":")
            guard parts.count == 2 else { throw Failure.badAddress(text) }
            host = String(parts[0])
            portText = parts[1]
        }
        guard let port = Int(portText) else { throw Failure.badAddress(text) }
        let token =
            given
            ?? FileManager.default.contents(atPath: API.tokenFile(repo: path)).map {
                String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        return APIContext(client: HTTPClient(host: host, port: port, bearerToken: token), url: text)
    }

    /// The method, target (path and query) and body of a command's request.
    static func request(_ command: String, _ fields: [String: Any]) throws -> (APIRoute, String, [UInt8]?, String?) {
        guard let route = API.route(for: command) else { throw CLIError("no API route for \(command)") }
        var rest = fields
        rest["command"] = nil
        var values: [String: String] = [:]
        for name in route.parameters {
            values[name] = rest[name].map { "\($0)" } ?? ""
            rest[name] = nil
        }
        var body: [UInt8]?
        var contentType: String?
        switch route.body {
        case .json(let field)?:
            body = Array((rest[field] as? String ?? "null").utf8)
            contentType = "application/json"
            rest[field] = nil
        case .bytes(let field)?:
            body = (rest[field] as? Data).map { [UInt8]($0) } ?? (rest[field] as? [UInt8]) ?? []
            contentType = "application/octet-stream"
            rest[field] = nil
        case nil:
            if route.method == "POST" || route.method == "PUT" {
                body = [UInt8](try JSONSerialization.data(withJSONObject: rest, options: [.sortedKeys]))
                contentType = "application/json"
                rest = [:]
            }
        }
        var query: [String] = []
        for (key, value) in rest.sorted(by: { $0.key < $1.key }) {
            let items = (value as? [Any]) ?? [value]
            for item in items { query.append(APIRoute.percentEncode(key) + "=" + APIRoute.percentEncode("\(item)")) }
        }
        let target = route.path(with: values) + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        return (route, target, body, contentType)
    }

    /// Sends a command; returns the response body, or throws the API's error message.
    func callRaw(_ command: String, _ fields: [String: Any]) async throws -> [UInt8] {
        let (route, target, body, contentType) = try Self.request(command, fields)
        let response: HTTPClient.Response
        do {
            response = try await client.request(
                route.method,
                target,
                headers: contentType.map { [("Content-Type", $0)] } ?? [],
                body: body
            )
        } catch {
            throw CLIError("cannot reach threadsd at \(url): \(error)")
        }
        try Self.check(response)
        return response.body
    }

    /// Sends a command and parses its JSON answer.
    func call(_ command: String, _ fields: [String: Any]) async throws -> Any {
        let body = try await callRaw(command, fields)
        guard !body.isEmpty else { return NSNull() }
        return try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
    }

    /// Throws the API's error (its message) for a failed response.
    static func check(_ response: HTTPClient.Response) throws {
        guard !(200..<300).contains(response.status) else { return }
        let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        let error = object?["error"] as? [String: Any]
        let message = error?["message"] as? String ?? "HTTP \(response.status)"
        throw CLIError(message)
    }
}
