/// A hybrid logical clock timestamp: wall time in milliseconds and a counter that orders events
/// within one millisecond or when a peer's clock lags. Ordered by (wall, counter); ties between
/// writers are broken by the caller (log ID).
public struct HLCTimestamp: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let wall: UInt64
    public let counter: UInt32

    public init(wall: UInt64, counter: UInt32) {
        self.wall = wall
        self.counter = counter
    }

    public static func < (lhs: HLCTimestamp, rhs: HLCTimestamp) -> Bool {
        (lhs.wall, lhs.counter) < (rhs.wall, rhs.counter)
    }

    public var description: String { "\(wall).\(counter)" }
}

/// The clock of one node: every timestamp it issues is greater than every one it issued or saw
/// before, and stays close to wall time.
public struct HybridLogicalClock: Sendable {
    public private(set) var last = HLCTimestamp(wall: 0, counter: 0)

    public init() {}

    /// A timestamp for a local event at wall time `now` (milliseconds).
    public mutating func tick(now: UInt64) -> HLCTimestamp {
        if now > last.wall {
            last = HLCTimestamp(wall: now, counter: 0)
        } else {
            last = HLCTimestamp(wall: last.wall, counter: last.counter &+ 1)
        }
        return last
    }

    /// Takes in a timestamp seen on a remote event, so later local events order after it.
    public mutating func observe(_ remote: HLCTimestamp, now: UInt64) {
        let wall = max(now, last.wall, remote.wall)
        if wall == last.wall && wall == remote.wall {
            last = HLCTimestamp(wall: wall, counter: max(last.counter, remote.counter) &+ 1)
        } else if wall == last.wall {
            last = HLCTimestamp(wall: wall, counter: last.counter &+ 1)
        } else if wall == remote.wall {
            last = HLCTimestamp(wall: wall, counter: remote.counter &+ 1)
        } else {
            last = HLCTimestamp(wall: wall, counter: 0)
        }
    }
}
