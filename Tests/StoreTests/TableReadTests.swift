import Foundation
import Store
import Testing

/// Reads of table files through CLevelDBReadEnv: small blocks from the mapping, large ones by
/// pread, so that large values read once do not stay in the process's resident memory.
@Suite struct TableReadTests {
    /// A store whose values (of `sizes` bytes, cycled) all sit in table files: a small memtable
    /// and small files, then a full compaction.
    static func filledStore(at path: String, count: Int, sizes: [Int]) throws -> [[UInt8]: [UInt8]] {
        let db = try Database(path: path, options: .init(writeBufferSize: 512 << 10, maxFileSize: 2 << 20))
        var expected: [[UInt8]: [UInt8]] = [:]
        var generator = SystemRandomNumberGenerator()
        for index in 0..<count {
            let key = bytes("key-\(index)")
            let size = sizes[index % sizes.count]
            var words = (0..<(size + 7) / 8).map { _ in generator.next() as UInt64 }
            let value = words.withUnsafeMutableBytes { Array($0.prefix(size)) }
            try db.put(key, value)
            expected[key] = value
        }
        try db.compact()
        db.close()
        return expected
    }

    static func tableFiles(in path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".ldb") }.sorted()
    }

    /// Bytes of files under `path` that are mapped into this process and resident.
    static func residentMappedBytes(under path: String) throws -> Int {
        // Read with read(2) until it returns 0: /proc files have no size to read up to.
        let fd = open("/proc/self/smaps", O_RDONLY)
        guard fd >= 0 else { throw CocoaError(.fileReadNoPermission) }
        defer { close(fd) }
        var raw: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while case let got = chunk.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }), got > 0 {
            raw += chunk[..<got]
        }
        let smaps = String(decoding: raw, as: UTF8.self)
        var inside = false
        var total = 0
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), first.allSatisfy({ $0.isHexDigit || $0 == "-" }) {
                inside = fields.count >= 6 && fields[5].hasPrefix(path)
            } else if inside, fields.first == "Rss:", fields.count >= 2, let kib = Int(fields[1]) {
                total += kib * 1024
            }
        }
        return total
    }

    @Test func smallValuesAreReadFromTables() throws {
        let dir = TempDir()
        let expected = try Self.filledStore(at: dir.path, count: 1500, sizes: [500, 1700, 3500])
        #expect(try Self.tableFiles(in: dir.path).count >= 2)
        let db = try Database(path: dir.path, options: .init(createIfMissing: false))
        for (key, value) in expected { #expect(try db.get(key) == value) }
        var seen = 0
        for (key, value) in try db.scan(prefix: bytes("key-")) where expected[key] == value { seen += 1 }
        #expect(seen == expected.count)
        db.close()
    }

    @Test func largeValuesDoNotStayResident() throws {
        let dir = TempDir()
        let expected = try Self.filledStore(at: dir.path, count: 48, sizes: [100 << 10, 256 << 10, 300 << 10])
        let tables = try Self.tableFiles(in: dir.path)
        let tableBytes = try tables.reduce(0) {
            $0 + (try FileManager.default.attributesOfItem(atPath: dir.path + "/" + $1)[.size] as? Int ?? 0)
        }
        #expect(tableBytes > 8 << 20)
        let db = try Database(path: dir.path, options: .init(createIfMissing: false))
        for (key, value) in expected { #expect(try db.get(key) == value) }
        for (key, value) in try db.scan() { #expect(expected[key] == value) }
        // Only the tables' small blocks (index, filter) were touched through the mapping.
        let resident = try Self.residentMappedBytes(under: dir.path)
        #expect(resident < tableBytes / 8, "resident \(resident) of \(tableBytes) table bytes")
        db.close()
    }

    @Test func aTruncatedTableGivesErrorsNotWrongValues() throws {
        let dir = TempDir()
        let expected = try Self.filledStore(at: dir.path, count: 600, sizes: [900, 2000, 90 << 10])
        let tables = try Self.tableFiles(in: dir.path)
        let victim = dir.path + "/" + tables[tables.count / 2]
        let size = try FileManager.default.attributesOfItem(atPath: victim)[.size] as? Int ?? 0
        #expect(truncate(victim, off_t(size / 2)) == 0)
        let db = try Database(path: dir.path, options: .init(createIfMissing: false))
        var failed = 0
        for (key, value) in expected {
            do {
                let got = try db.get(key)
                #expect(got == value || got == nil)
                if got == nil { failed += 1 }
            } catch {
                failed += 1
            }
        }
        // That table's keys cannot be read any more; every other key still can.
        #expect(failed > 0)
        #expect(failed < expected.count)
        db.close()
    }
}
