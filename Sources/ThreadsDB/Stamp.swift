import DagCBOR
import Threads

/// The total order of database actions: the hybrid logical clock of the event that carries the
/// action, then the writer's log ID (bytes), then the action's place in its event. Every replica
/// orders any two actions the same way, which is what makes last-writer-wins converge.
public struct Stamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let wall: UInt64
    public let counter: UInt32
    public let log: [UInt8]
    public let index: UInt32

    public init(clock: HLCTimestamp, log: [UInt8], index: UInt32) {
        wall = clock.wall
        counter = clock.counter
        self.log = log
        self.index = index
    }

    public static func < (lhs: Stamp, rhs: Stamp) -> Bool {
        if lhs.wall != rhs.wall { return lhs.wall < rhs.wall }
        if lhs.counter != rhs.counter { return lhs.counter < rhs.counter }
        if lhs.log != rhs.log { return lhs.log.lexicographicallyPrecedes(rhs.log) }
        return lhs.index < rhs.index
    }

    public var description: String { "\(wall).\(counter)/\(index)" }

    var ipld: IPLD {
        .list([
            .integer(IPLDInteger(wall)), .integer(IPLDInteger(UInt64(counter))), .bytes(log),
            .integer(IPLDInteger(UInt64(index))),
        ])
    }

    init?(_ ipld: IPLD?) {
        guard let list = ipld?.listValue, list.count == 4, let wall = list[0].integerValue,
            !wall.isNegative, let counter = list[1].integerValue, !counter.isNegative,
            counter.argument <= UInt32.max, let log = list[2].bytesValue, let index = list[3].integerValue,
            !index.isNegative, index.argument <= UInt32.max
        else { return nil }
        self.wall = wall.argument
        self.counter = UInt32(counter.argument)
        self.log = log
        self.index = UInt32(index.argument)
    }
}
