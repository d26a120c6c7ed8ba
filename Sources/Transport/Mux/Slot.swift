import Synchronization

/// A value set once it exists and read from elsewhere meanwhile. Protocol handlers are registered
/// with the connection manager before the service that answers them can be made (the service
/// needs the manager), so a handler reaches its service through a slot.
public final class Slot<Value: Sendable>: Sendable {
    private let storage = Mutex<Value?>(nil)

    public init() {}

    public var value: Value? {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
