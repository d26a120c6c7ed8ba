import Foundation

/// A fresh directory under the system temp dir, removed when the test is done with it.
final class TempDir {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("store-test-\(UUID().uuidString)").path
    }

    func sub(_ name: String) -> String { path + "/" + name }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
