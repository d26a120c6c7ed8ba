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

    /// `bytes` changed one of several ways a hostile or broken peer might: a few flipped bytes,
    /// cut short, a random splice, a repeated range, or random bytes of the same length.
    public mutating func mangled(_ bytes: [UInt8]) -> [UInt8] {
        guard !bytes.isEmpty else { return self.bytes(8) }
        var out = bytes
        switch below(5) {
        case 0:
            for _ in 0...below(3) { out[below(out.count)] ^= UInt8(truncatingIfNeeded: next() | 1) }
        case 1:
            out = Array(out.prefix(below(out.count)))
        case 2:
            let at = below(out.count)
            out.replaceSubrange(at..<min(out.count, at + below(16)), with: self.bytes(below(24)))
        case 3:
            let from = below(out.count)
            let range = from..<min(out.count, from + 1 + below(64))
            out.insert(contentsOf: out[range], at: below(out.count))
        default:
            out = self.bytes(out.count)
        }
        return out
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
