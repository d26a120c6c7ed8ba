import Foundation
import Sodium

/// Generated instance IDs: 26 characters of Crockford base32 (lowercase), 48 bits of
/// milliseconds then 80 random bits, so IDs sort by creation time (as ULIDs do) and two writers
/// never pick the same one.
public enum InstanceID {
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    public static func generate(now: UInt64 = UInt64(max(0, Date.now.timeIntervalSince1970 * 1000))) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: now >> (8 * (5 - i))) }
        let random = Random.bytes(count: 10)
        bytes.replaceSubrange(6..<16, with: random)
        // 128 bits as 26 five-bit digits (the first digit takes the top 3 bits).
        var out: [UInt8] = []
        var value = bytes.reduce(into: (hi: UInt64(0), lo: UInt64(0))) { acc, byte in
            acc.hi = acc.hi << 8 | acc.lo >> 56
            acc.lo = acc.lo << 8 | UInt64(byte)
        }
        for _ in 0..<26 {
            out.append(alphabet[Int(value.lo & 31)])
            value.lo = value.lo >> 5 | value.hi << 59
            value.hi >>= 5
        }
        return String(decoding: out.reversed(), as: UTF8.self)
    }
}
