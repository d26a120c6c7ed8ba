import Foundation
import Multiformats
import Node
import Sodium
import Store
import Testing

@Suite(.timeLimit(.minutes(5))) struct RepoTests {
    static func tempPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("repo-test-\(UUID().uuidString)").path
    }

    @Test func initCreatesTheLayout() throws {
        let path = Self.tempPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let peer: PeerID
        do {
            let repo = try Repo.initialize(at: path)
            peer = repo.peerID
            #expect(repo.identity.publicKey.peerID == peer)
        }
        let fm = FileManager.default
        for name in ["version", "identity.key", "config.json", "datastore/CURRENT", "repo.lock"] {
            #expect(fm.fileExists(atPath: path + "/" + name), "\(name)")
        }
        let mode = try fm.attributesOfItem(atPath: path + "/identity.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let reopened = try Repo.open(at: path)
        #expect(reopened.peerID == peer)
        #expect(reopened.config.listen.map(\.description) == [RepoConfig.defaultListen])
        #expect(reopened.config.api.description == RepoConfig.defaultAPI)
    }

    @Test func initRefusesAnExistingRepo() throws {
        let path = Self.tempPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try Repo.initialize(at: path)
        #expect(throws: RepoError.self) { try Repo.initialize(at: path) }
    }

    @Test func secondOpenIsRefusedWithAClearError() throws {
        let path = Self.tempPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let repo = try Repo.initialize(at: path)
        do {
            _ = try Repo.open(at: path)
            Issue.record("opened a repo twice")
        } catch let error as RepoError {
            #expect("\(error)".contains("in use by another process"))
        }
        withExtendedLifetime(repo) {}
    }

    /// Snapshot of every file's bytes, to prove a failed open changed nothing.
    static func contents(_ path: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let name = enumerator?.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDir), !isDir.boolValue {
                out[name] = FileManager.default.contents(atPath: path + "/" + name)
            }
        }
        return out
    }

    @Test func unknownVersionIsRefusedAndNothingChanges() throws {
        let path = Self.tempPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do { _ = try Repo.initialize(at: path) }
        try Data("99\n".utf8).write(to: URL(fileURLWithPath: path + "/version"))
        let before = try Self.contents(path)
        #expect(throws: RepoError.self) { try Repo.open(at: path) }
        #expect(try Self.contents(path) == before)
        do {
            _ = try Repo.open(at: path)
        } catch {
            #expect("\(error)".contains("version '99'"))
        }
    }

    @Test(arguments: [
        "{", "[]", #"{"identity":{},"addresses":{"listen":[],"api":"/ip4/127.0.0.1/tcp/6006"},"bootstrap":[]}"#,
        #"{"identity":{"peerID":"nope"},"addresses":{"listen":["/ip4/0.0.0.0/tcp/1"],"api":"/ip4/127.0.0.1/tcp/6006"}}"#,
        #"{"identity":{"peerID":"12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"},"addresses":{"listen":["/ip4/0.0.0.0/tcp/1"],"api":"/ip4/127.0.0.1/tcp/6006"},"bootstrap":[]}"#,
        #"{"identity":{"peerID":"x"},"addresses":{"listen":["/ip4/300.0.0.0/tcp/1"],"api":"x"},"typo":1}"#,
    ])
    func corruptConfigIsRefusedAndNothingChanges(config: String) throws {
        let path = Self.tempPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do { _ = try Repo.initialize(at: path) }
        try Data(config.utf8).write(to: URL(fileURLWithPath: path + "/config.json"))
        let before = try Self.contents(path)
        #expect(throws: RepoError.self) { try Repo.open(at: path) }
        #expect(try Self.contents(path) == before)
    }

    @Test func identityKeyReadableByOthersIsRefused() throws {
        let path = Self.tempPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do { _ = try Repo.initialize(at: path) }
        chmod(path + "/identity.key", 0o644)
        #expect(throws: RepoError.self) { try Repo.open(at: path) }
    }

    @Test func missingRepoSaysToRunInit() {
        let path = Self.tempPath()
        do {
            _ = try Repo.open(at: path)
            Issue.record("opened a missing repo")
        } catch {
            #expect("\(error)".contains("threads init"))
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func configRoundTripsWithBootstrapPeers() throws {
        let peer = Ed25519.PrivateKey().publicKey.peerID
        var config = RepoConfig.defaults(for: peer)
        config.bootstrap = [
            try Multiaddr("/ip4/192.0.2.1/tcp/4006/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
        ]
        let parsed = try RepoConfig.parse(config.serialized(), path: "config.json")
        #expect(parsed == config)
    }
}
