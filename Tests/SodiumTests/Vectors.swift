import Foundation
import ThreadsTestKit

enum Vectors {
    /// Rows of space-separated fields, comments skipped.
    static func rows(_ path: String) throws -> [[String]] {
        try TestKit.lines(path).map { $0.split(separator: " ").map(String.init) }
    }

    static func hex(_ text: String) -> [UInt8] {
        TestKit.hex(text)
    }
}
