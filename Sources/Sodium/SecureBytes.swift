internal import CSodium
import Foundation

/// Secret bytes (keys, seeds, shared secrets) that are wiped with `sodium_memzero` when the last
/// reference goes away and never appear in `description` or logs.
///
/// Immutable after creation, so sharing across tasks is safe.
public final class SecureBytes: Sendable, ContiguousBytes, CustomStringConvertible, CustomDebugStringConvertible {
    // The buffer is written only in init and read afterwards; deinit wipes it when no reader remains.
    nonisolated(unsafe) private let storage: UnsafeMutableRawBufferPointer

    /// The number of bytes.
    public var count: Int { storage.count }

    /// Copies `bytes` into wiped-on-release storage. The caller should wipe its own copy if it can.
    public init(_ bytes: some ContiguousBytes) {
        Sodium.ensureInitialized()
        storage = bytes.withUnsafeBytes { source in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 16)
            if source.count > 0 { buffer.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: source.count) }
            return UnsafeMutableRawBufferPointer(rebasing: buffer[0..<source.count])
        }
    }

    /// Fresh storage of `count` bytes filled by `body` (which must write every byte).
    public init(count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        Sodium.ensureInitialized()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 16)
        let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
        slice.initializeMemory(as: UInt8.self, repeating: 0)
        do {
            try body(slice)
        } catch {
            sodium_memzero(buffer.baseAddress!, buffer.count)
            buffer.deallocate()
            throw error
        }
        storage = slice
    }

    /// `count` random bytes from the operating system's CSPRNG.
    public static func random(count: Int) -> SecureBytes {
        SecureBytes(count: count) { randombytes_buf($0.baseAddress!, $0.count) }
    }

    /// Reads the secret without copying it out.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(storage))
    }

    /// A plain copy, for the few places that must hand bytes to a file or an invite the user asked for.
    public var unsafeCopy: [UInt8] {
        Array(UnsafeRawBufferPointer(storage))
    }

    deinit {
        if let base = storage.baseAddress {
            sodium_memzero(base, max(storage.count, 1))
            base.deallocate()
        }
    }

    public var description: String { "<redacted \(count) bytes>" }
    public var debugDescription: String { description }
}

extension SecureBytes: Equatable {
    /// Constant-time comparison.
    public static func == (lhs: SecureBytes, rhs: SecureBytes) -> Bool {
        lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in Sodium.constantTimeEqual(a, b) } }
    }
}
