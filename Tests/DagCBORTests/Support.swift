import DagCBOR
import Foundation
import Multiformats
import ThreadsTestKit

enum Fixtures {
    static let root = TestKit.fixtures.appendingPathComponent("codec-fixtures")

    struct Fixture {
        let name: String
        /// codec name -> (CID string, bytes)
        let files: [String: (cid: String, bytes: [UInt8])]
    }

    /// Every fixture directory with its dag-cbor and dag-json files.
    static func positive() throws -> [Fixture] {
        let dir = root.appendingPathComponent("fixtures")
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().compactMap { name in
            var files: [String: (String, [UInt8])] = [:]
            for file in try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent(name).path) {
                let parts = file.split(separator: ".", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { continue }
                let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent(name).appendingPathComponent(file)))
                files[parts[1]] = (parts[0], bytes)
            }
            return files.isEmpty ? nil : Fixture(name: name, files: files)
        }
    }

    struct Negative: Decodable {
        let name: String
        let hex: String?
        let error: String?
    }

    static func negative(_ codec: String) throws -> [Negative] {
        let dir = root.appendingPathComponent("negative-fixtures/\(codec)/decode")
        var out: [Negative] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".json") {
            out += try JSONDecoder().decode([Negative].self, from: Data(contentsOf: dir.appendingPathComponent(file)))
        }
        return out
    }

    static func hex(_ text: String) -> [UInt8] {
        TestKit.hex(text)
    }
}

/// Random IPLD values for property tests.
extension SeededGenerator {
    /// A random IPLD value, nested at most `depth` levels.
    mutating func value(depth: Int) -> IPLD {
        let kinds = depth > 0 ? 9 : 7
        switch below(kinds) {
        case 0: return .null
        case 1: return .bool(next() % 2 == 0)
        case 2:
            let magnitude = next() >> UInt64(below(64))
            return .integer(IPLDInteger(isNegative: next() % 2 == 0, argument: magnitude))
        case 3:
            var d = Double(bitPattern: next())
            if !d.isFinite { d = Double(Int64(bitPattern: next()) >> 11) / 3 }
            return .float(d)
        case 4:
            let scalars: [Character] = ["a", "Z", "0", " ", "\"", "\\", "\n", "é", "水", "𐅑", "/", "\u{1}", "\u{7f}"]
            return .string(String((0..<below(12)).map { _ in scalars[below(scalars.count)] }))
        case 5: return .bytes(bytes(below(40)))
        case 6:
            let mh = try! Multihash.hash(bytes(8), using: .sha2_256)
            return .link(
                next() % 4 == 0
                    ? try! CID(version: 0, codec: Multicodec.dagPB, multihash: mh)
                    : CID.v1(codec: Multicodec.dagCBOR, multihash: mh)
            )
        case 7: return .list((0..<below(5)).map { _ in value(depth: depth - 1) })
        default:
            var entries: [String: IPLD] = [:]
            let keys = ["a", "b", "aa", "ab", "bytes", "0", "zz", "é", "long-key-name", ""]
            for _ in 0..<below(5) { entries[keys[below(keys.count)]] = value(depth: depth - 1) }
            // "/" alone would read back as a link or bytes in DAG-JSON; keep it as a plain key among others.
            if next() % 10 == 0 { entries["/"] = .integer(1) }
            return .map(entries)
        }
    }
}
