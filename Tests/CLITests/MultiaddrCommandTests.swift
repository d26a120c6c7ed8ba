import Foundation
import Testing

/// The `threads multiaddr inspect` contract, on go-multiaddr's own good and bad cases.
@Suite(.timeLimit(.minutes(5))) struct MultiaddrCommandTests {
    static func cases(_ name: String) throws -> [String] {
        let url = CLIRunner.fixtures.appendingPathComponent("multiaddr/\(name)")
        return try String(contentsOf: url, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: true)
            .map(String.init)
            .filter { !$0.hasPrefix("#") }
    }

    @Test func inspectShape() async throws {
        let result = try await CLIRunner.run(["multiaddr", "inspect", "/ip4/127.0.0.1/tcp/4006"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try result.json()
        #expect(json["string"] as? String == "/ip4/127.0.0.1/tcp/4006")
        #expect(json["bytes"] as? String == "047f000001060fa6")
        let components = try #require(json["components"] as? [[String: Any]])
        #expect(components.count == 2)
        #expect(components.first?["protocol"] as? String == "ip4")
        #expect(components.first?["code"] as? Int == 4)
        #expect(components.first?["value"] as? String == "127.0.0.1")
        #expect(components.last?["protocol"] as? String == "tcp")
        #expect(components.last?["code"] as? Int == 6)
        #expect(components.last?["value"] as? String == "4006")
    }

    @Test func goodCasesRoundTripThroughBinary() async throws {
        let good = try Self.cases("good.txt")
        try #require(good.count > 10)
        for (index, text) in good.enumerated() where index % 3 == 0 {
            let result = try await CLIRunner.run(["multiaddr", "inspect", text])
            #expect(result.status == 0, "\(text): \(result.stderr)")
            guard result.status == 0 else { continue }
            let json = try result.json()
            let canonical = try #require(json["string"] as? String)
            let hex = try #require(json["bytes"] as? String)
            let again = try await CLIRunner.run(["multiaddr", "inspect", "0x" + hex])
            let json2 = try again.json()
            #expect(json2["string"] as? String == canonical)
            #expect(json2["bytes"] as? String == hex)
        }
    }

    @Test func badCasesFailWithOneLine() async throws {
        let bad = try Self.cases("bad.txt")
        try #require(bad.count > 10)
        for (index, text) in bad.enumerated() where index % 3 == 0 {
            let result = try await CLIRunner.run(["multiaddr", "inspect", text])
            #expect(!result.crashed, "\(text)")
            #expect(result.status != 0, "\(text) was accepted: \(result.stdout)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(text): \(result.stderr)")
        }
    }
}
