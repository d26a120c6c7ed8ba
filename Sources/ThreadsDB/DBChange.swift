/// One change to a collection, as listeners see it.
public struct DBChange: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable {
        case create, save, delete
    }

    public let thread: String
    public let collection: String
    public let instanceID: String
    public let action: Action
    /// The instance after the change; nil after a delete (or when a concurrent delete won).
    public let instance: JSON?
    /// The log (writer) whose event made the change.
    public let log: String

    public var json: JSON {
        .object([
            "collection": .string(collection), "instanceID": .string(instanceID), "action": .string(action.rawValue),
            "instance": instance ?? .null, "thread": .string(thread), "log": .string(log),
        ])
    }
}

/// Which changes a listener wants: empty sets mean all.
public struct ChangeFilter: Sendable, Equatable {
    public var collections: Set<String>
    public var actions: Set<DBChange.Action>
    public var instanceIDs: Set<String>

    public init(collections: Set<String> = [], actions: Set<DBChange.Action> = [], instanceIDs: Set<String> = []) {
        self.collections = collections
        self.actions = actions
        self.instanceIDs = instanceIDs
    }

    public func admits(_ change: DBChange) -> Bool {
        (collections.isEmpty || collections.contains(change.collection))
            && (actions.isEmpty || actions.contains(change.action))
            && (instanceIDs.isEmpty || instanceIDs.contains(change.instanceID))
    }
}
