import Synchronization

/// Decoded collection definitions (compiling a schema is far dearer than reading an instance),
/// shared by the readers of one database and dropped whenever a definition is written.
final class DefinitionCache: Sendable {
    private struct State {
        var entries: [[UInt8]: StoredDefinition?] = [:]
        /// Bumped by every invalidation, so a value read from the store before one is not cached
        /// after it.
        var generation = 0
    }

    private let state = Mutex(State())

    /// The cached value (`.some(nil)`: known to be absent), and the generation to store under.
    func lookup(_ key: [UInt8]) -> (value: StoredDefinition??, generation: Int) {
        state.withLock { ($0.entries[key], $0.generation) }
    }

    func store(_ key: [UInt8], _ value: StoredDefinition?, generation: Int) {
        state.withLock { state in
            if state.generation == generation { state.entries[key] = .some(value) }
        }
    }

    func invalidate() {
        state.withLock { state in
            state.entries.removeAll()
            state.generation += 1
        }
    }
}
