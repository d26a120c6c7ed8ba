internal import CSodium
import Foundation

/// libsodium, initialised once for the process.
///
/// Every entry point of this module calls `Sodium.ensureInitialized()` first; callers never need to.
public enum Sodium {
    private static let initialised: Bool = sodium_init() >= 0

    /// Initialises libsodium (idempotent and thread-safe: a lazily initialised global).
    public static func ensureInitialized() {
        precondition(initialised, "libsodium failed to initialise (sodium_init)")
    }

    /// The linked libsodium's version string, for diagnostics and benchmark output.
    public static var version: String {
        String(cString: sodium_version_string())
    }

    /// Compares two byte strings in time that depends only on their length.
    /// Different lengths compare unequal (length is not secret here: MACs and tags have fixed sizes).
    public static func constantTimeEqual(_ a: some ContiguousBytes, _ b: some ContiguousBytes) -> Bool {
        ensureInitialized()
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                pa.count == pb.count
                    && (pa.count == 0 || sodium_memcmp(pa.baseAddress!, pb.baseAddress!, pa.count) == 0)
            }
        }
    }
}
