import Foundation
import ThreadsTestKit

/// Reads the official vectors committed under Tests/Fixtures.
enum Fixtures {
    static let root = TestKit.fixtures

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    static func lines(_ path: String) throws -> [String] {
        try TestKit.lines(path)
    }

    static func hex(_ text: some StringProtocol) -> [UInt8] {
        TestKit.hex(text)
    }

    static func hexString(_ bytes: [UInt8]) -> String {
        TestKit.hexString(bytes)
    }
}
