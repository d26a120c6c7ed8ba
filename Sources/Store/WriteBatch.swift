/// Operations applied together by `Database.write(_:sync:)`: all of them or none.
public struct WriteBatch: Sendable {
    enum Operation: Sendable {
        case put([UInt8], [UInt8])
        case delete([UInt8])
    }

    private(set) var operations: [Operation] = []

    public init() {}

    public var isEmpty: Bool { operations.isEmpty }
    public var count: Int { operations.count }

    public mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        operations.append(.put(key, value))
    }

    public mutating func delete(_ key: [UInt8]) {
        operations.append(.delete(key))
    }

    /// Appends every operation of `other`, after this batch's own.
    public mutating func append(contentsOf other: WriteBatch) {
        operations.append(contentsOf: other.operations)
    }
}
