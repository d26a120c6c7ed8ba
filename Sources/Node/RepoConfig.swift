import Foundation
import Multiformats

/// `config.json`: what a node listens on, where its API is, and whom it bootstraps from.
///
/// Unknown keys are rejected rather than ignored, so a typo in a hand-edited config is an error the
/// user sees instead of a setting that silently does nothing.
public struct RepoConfig: Sendable, Equatable {
    /// Default TCP listen address of the node (the DHT binds UDP on the same port).
    public static let defaultListen = "/ip4/0.0.0.0/tcp/4006"
    /// Default address of the HTTP/JSON API: loopback only.
    public static let defaultAPI = "/ip4/127.0.0.1/tcp/6006"

    /// The peer ID of the repo's identity key, kept here so a mismatched key file is caught.
    public var peerID: PeerID
    /// Multiaddrs the node listens on.
    public var listen: [Multiaddr]
    /// Multiaddr of the HTTP/JSON API.
    public var api: Multiaddr
    /// Peers dialled at start (each a multiaddr ending in `/p2p/<peer>`).
    public var bootstrap: [Multiaddr]

    public init(peerID: PeerID, listen: [Multiaddr], api: Multiaddr, bootstrap: [Multiaddr]) {
        self.peerID = peerID
        self.listen = listen
        self.api = api
        self.bootstrap = bootstrap
    }

    /// The configuration `threads init` writes.
    public static func defaults(for peerID: PeerID) -> RepoConfig {
        // The defaults are valid multiaddrs; parsing them cannot fail.
        RepoConfig(
            peerID: peerID,
            listen: [try! Multiaddr(defaultListen)],
            api: try! Multiaddr(defaultAPI),
            bootstrap: []
        )
    }

    /// Parses `config.json` strictly. `path` is only used in errors.
    public static func parse(_ data: Data, path: String) throws(RepoError) -> RepoConfig {
        func fail(_ field: String?, _ reason: String) -> RepoError {
            .invalidConfig(path: path, field: field, reason: reason)
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw fail(nil, "not valid JSON (\(error.localizedDescription))")
        }
        guard let root = object as? [String: Any] else { throw fail(nil, "the top level must be a JSON object") }
        let known: Set<String> = ["identity", "addresses", "bootstrap"]
        if let unknown = root.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail(unknown, "unknown key (expected identity, addresses, bootstrap)")
        }
        guard let identity = root["identity"] as? [String: Any] else { throw fail("identity", "missing object") }
        guard let peerText = identity["peerID"] as? String else { throw fail("identity.peerID", "missing string") }
        let peerID: PeerID
        do { peerID = try PeerID(peerText) } catch { throw fail("identity.peerID", "\(error)") }

        guard let addresses = root["addresses"] as? [String: Any] else { throw fail("addresses", "missing object") }
        if let unknown = addresses.keys.sorted().first(where: { $0 != "listen" && $0 != "api" }) {
            throw fail("addresses.\(unknown)", "unknown key (expected listen, api)")
        }
        let listen = try multiaddrs(addresses["listen"], field: "addresses.listen", fail: fail)
        guard !listen.isEmpty else { throw fail("addresses.listen", "at least one listen address is needed") }
        guard let apiText = addresses["api"] as? String else { throw fail("addresses.api", "missing string") }
        let api: Multiaddr
        do { api = try Multiaddr(apiText) } catch { throw fail("addresses.api", "\(error)") }
        let bootstrap = try multiaddrs(root["bootstrap"] ?? [Any](), field: "bootstrap", fail: fail)
        for (index, addr) in bootstrap.enumerated() where addr.peerID == nil {
            throw fail("bootstrap[\(index)]", "'\(addr)' must end in /p2p/<peer ID>")
        }
        return RepoConfig(peerID: peerID, listen: listen, api: api, bootstrap: bootstrap)
    }

    private static func multiaddrs(
        _ value: Any?,
        field: String,
        fail: (String?, String) -> RepoError
    ) throws(RepoError) -> [Multiaddr] {
        guard let list = value as? [Any] else { throw fail(field, "missing list of multiaddr strings") }
        var result: [Multiaddr] = []
        for (index, item) in list.enumerated() {
            guard let text = item as? String else { throw fail("\(field)[\(index)]", "not a string") }
            do { result.append(try Multiaddr(text)) } catch { throw fail("\(field)[\(index)]", "\(error)") }
        }
        return result
    }

    /// The JSON written to `config.json`: stable key order, two-space indentation, trailing newline.
    public func serialized() -> Data {
        func quote(_ s: String) -> String {
            // Multiaddr and peer ID strings contain no characters that need escaping beyond these.
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        func list(_ items: [Multiaddr], indent: String) -> String {
            guard !items.isEmpty else { return "[]" }
            return "[\n" + items.map { indent + "  " + quote($0.description) }.joined(separator: ",\n") + "\n" + indent
                + "]"
        }
        let text = """
            {
              "identity": {
                "peerID": \(quote(peerID.description))
              },
              "addresses": {
                "listen": \(list(listen, indent: "    ")),
                "api": \(quote(api.description))
              },
              "bootstrap": \(list(bootstrap, indent: "  "))
            }

            """
        return Data(text.utf8)
    }
}
