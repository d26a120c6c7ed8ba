/// An integer of the IPLD data model: the full range -2^64 … 2^64-1 that DAG-CBOR can carry.
///
/// Stored as CBOR stores it, a sign and a 64-bit argument: a non-negative value `n` is
/// `(false, n)`, a negative value `v` is `(true, -1 - v)`. Swift's `Int64` covers only part of
/// this range, so values are converted on request.
public struct IPLDInteger: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// Whether the value is below zero.
    public let isNegative: Bool
    /// The CBOR argument: the value itself when non-negative, `-1 - value` when negative.
    public let argument: UInt64

    /// Builds from the CBOR form.
    public init(isNegative: Bool, argument: UInt64) {
        self.isNegative = isNegative
        self.argument = argument
    }

    public init(_ value: Int64) {
        if value < 0 {
            isNegative = true
            argument = UInt64(bitPattern: -1 - value)
        } else {
            isNegative = false
            argument = UInt64(value)
        }
    }

    public init(_ value: Int) {
        self.init(Int64(value))
    }

    public init(_ value: UInt64) {
        isNegative = false
        argument = value
    }

    public init(integerLiteral value: Int64) {
        self.init(value)
    }

    /// The value as `Int64`, if it fits.
    public var int64Value: Int64? {
        if isNegative {
            return argument <= UInt64(Int64.max) ? -1 - Int64(argument) : nil
        }
        return argument <= UInt64(Int64.max) ? Int64(argument) : nil
    }

    /// The value as `Int`, if it fits.
    public var intValue: Int? {
        int64Value.flatMap { Int(exactly: $0) }
    }

    /// The value as `UInt64`, if it is non-negative.
    public var uint64Value: UInt64? {
        isNegative ? nil : argument
    }

    /// The value as a `Double` (rounded for magnitudes beyond 2^53).
    public var doubleValue: Double {
        isNegative ? -1 - Double(argument) : Double(argument)
    }

    /// Parses a decimal integer (`-?[0-9]+`) in the data-model range.
    public init?(decimal text: some StringProtocol) {
        var digits = Substring(text)
        let negative = digits.first == "-"
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        guard let magnitude = UInt64(digits) else {
            // -2^64 is the one value whose magnitude does not fit in 64 bits.
            if negative && digits.drop(while: { $0 == "0" }) == "18446744073709551616" {
                self.init(isNegative: true, argument: UInt64.max)
                return
            }
            return nil
        }
        if negative {
            if magnitude == 0 {
                self.init(isNegative: false, argument: 0)
            } else {
                self.init(isNegative: true, argument: magnitude - 1)
            }
        } else {
            self.init(isNegative: false, argument: magnitude)
        }
    }

    public var description: String {
        if !isNegative { return String(argument) }
        // -1 - argument, printed without overflowing: the magnitude is argument + 1.
        if argument == UInt64.max { return "-18446744073709551616" }
        return "-" + String(argument + 1)
    }

    public static func < (lhs: IPLDInteger, rhs: IPLDInteger) -> Bool {
        switch (lhs.isNegative, rhs.isNegative) {
        case (true, false): return true
        case (false, true): return false
        case (false, false): return lhs.argument < rhs.argument
        case (true, true): return lhs.argument > rhs.argument
        }
    }
}
