import Foundation

/// Helpers shared by the test targets: fixture paths, hex, and a seeded generator.
public enum TestKit {
    /// `Tests/Fixtures`, where official vectors are committed.
    public static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// Lowercase or uppercase hex to bytes; `-` stands for an empty string in vector files.
    public static func hex(_ text: some StringProtocol) -> [UInt8] {
        if text == "-" { return [] }
        var out: [UInt8] = []
        var chars = Array(text.utf8)[...]
        while chars.count >= 2 {
            out.append(UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16)!)
            chars = chars.dropFirst(2)
        }
        return out
    }

    /// Bytes to lowercase hex.
    public static func hexString(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Non-empty lines of a fixture file that are not `#` comments.
    public static func lines(_ path: String) throws -> [String] {
        try String(contentsOf: fixtures.appendingPathComponent(path), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            .filter { !$0.hasPrefix("#") }
    }
}

/// A deterministic generator (SplitMix64) so property tests see the same inputs on every run.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }

    public mutating func below(_ n: Int) -> Int {
        Int(next() % UInt64(n))
    }
}

extension TestKit {
    /// A condition polled by `waitUntil` never held.
    public struct TimedOut: Error {}

    /// Polls `condition` every 20 ms until it holds or `timeout` passes; an error thrown by the
    /// condition counts as "not yet". Returns whether it held.
    public static func eventually(timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async -> Bool
    {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return (try? await condition()) == true
    }

    /// Like `eventually`, but throws `TimedOut` when the condition never held.
    public static func waitUntil(timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws {
        guard await eventually(timeout: timeout, condition) else { throw TimedOut() }
    }
}
