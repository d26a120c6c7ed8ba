import Foundation
import Multiformats

/// Decodes `Decodable` Swift values from IPLD: the inverse of `IPLDEncoder`.
public struct IPLDDecoder {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from value: IPLD) throws -> T {
        try IPLDDecoderImpl.decode(type, from: value, codingPath: [])
    }
}

/// Decodes `Decodable` values from DAG-CBOR bytes.
public struct DagCBORDecoder {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try IPLDDecoder().decode(type, from: DagCBOR.decode(bytes))
    }
}

struct IPLDDecoderImpl: Decoder {
    let value: IPLD
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    static func mismatch(_ expected: String, _ value: IPLD, _ path: [any CodingKey]) -> DagCBORError {
        let where_ = path.isEmpty ? "the top level" : path.map(\.stringValue).joined(separator: ".")
        return DagCBORError(
            .typeMismatch,
            codec: "codable",
            offset: nil,
            "expected \(expected) at \(where_), found \(value.kind)"
        )
    }

    static func decode<T: Decodable>(_ type: T.Type, from value: IPLD, codingPath: [any CodingKey]) throws -> T {
        if type == IPLD.self { return value as! T }
        if type == CID.self {
            guard case .link(let cid) = value else { throw mismatch("link", value, codingPath) }
            return cid as! T
        }
        if type == [UInt8].self {
            guard case .bytes(let b) = value else { throw mismatch("bytes", value, codingPath) }
            return b as! T
        }
        if type == Data.self {
            guard case .bytes(let b) = value else { throw mismatch("bytes", value, codingPath) }
            return Data(b) as! T
        }
        return try T(from: IPLDDecoderImpl(value: value, codingPath: codingPath))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .map(let entries) = value else { throw Self.mismatch("map", value, codingPath) }
        return KeyedDecodingContainer(KeyedContainer<Key>(entries: entries, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .list(let items) = value else { throw Self.mismatch("list", value, codingPath) }
        return UnkeyedContainer(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleContainer(value: value, codingPath: codingPath)
    }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let entries: [String: IPLD]
        let codingPath: [any CodingKey]
        var allKeys: [Key] { entries.keys.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { entries[key.stringValue] != nil }

        private func entry(_ key: Key) throws -> IPLD {
            guard let value = entries[key.stringValue] else {
                let path = (codingPath + [key]).map(\.stringValue).joined(separator: ".")
                throw DagCBORError(.typeMismatch, codec: "codable", offset: nil, "missing key \(path)")
            }
            return value
        }

        func decodeNil(forKey key: Key) throws -> Bool { (entries[key.stringValue] ?? .null) == .null }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try IPLDDecoderImpl.decode(type, from: entry(key), codingPath: codingPath + [key])
        }
        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            try IPLDDecoderImpl(value: entry(key), codingPath: codingPath + [key]).container(keyedBy: type)
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try IPLDDecoderImpl(value: entry(key), codingPath: codingPath + [key]).unkeyedContainer()
        }
        func superDecoder() throws -> any Decoder {
            IPLDDecoderImpl(value: entries["super"] ?? .null, codingPath: codingPath)
        }
        func superDecoder(forKey key: Key) throws -> any Decoder {
            IPLDDecoderImpl(value: try entry(key), codingPath: codingPath + [key])
        }
    }

    struct IndexKey: CodingKey {
        let intValue: Int?
        var stringValue: String { String(intValue ?? 0) }
        init(_ index: Int) { intValue = index }
        init?(stringValue: String) { intValue = Int(stringValue) }
        init?(intValue: Int) { self.intValue = intValue }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let items: [IPLD]
        let codingPath: [any CodingKey]
        var currentIndex = 0
        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        init(items: [IPLD], codingPath: [any CodingKey]) {
            self.items = items
            self.codingPath = codingPath
        }

        private mutating func next() throws -> (IPLD, [any CodingKey]) {
            guard !isAtEnd else {
                throw DagCBORError(
                    .typeMismatch,
                    codec: "codable",
                    offset: nil,
                    "list has only \(items.count) elements"
                )
            }
            defer { currentIndex += 1 }
            return (items[currentIndex], codingPath + [IndexKey(currentIndex)])
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, items[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (value, path) = try next()
            return try IPLDDecoderImpl.decode(type, from: value, codingPath: path)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            let (value, path) = try next()
            return try IPLDDecoderImpl(value: value, codingPath: path).container(keyedBy: type)
        }
        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let (value, path) = try next()
            return try IPLDDecoderImpl(value: value, codingPath: path).unkeyedContainer()
        }
        mutating func superDecoder() throws -> any Decoder {
            let (value, path) = try next()
            return IPLDDecoderImpl(value: value, codingPath: path)
        }
    }

    struct SingleContainer: SingleValueDecodingContainer {
        let value: IPLD
        let codingPath: [any CodingKey]

        func decodeNil() -> Bool { value == .null }
        func decode(_ type: Bool.Type) throws -> Bool {
            guard case .bool(let b) = value else { throw mismatch("bool") }
            return b
        }
        func decode(_ type: String.Type) throws -> String {
            guard case .string(let s) = value else { throw mismatch("string") }
            return s
        }
        func decode(_ type: Double.Type) throws -> Double {
            switch value {
            case .float(let d): return d
            case .integer(let i): return i.doubleValue
            default: throw mismatch("float")
            }
        }
        func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }
        func decode(_ type: Int.Type) throws -> Int { try integer() }
        func decode(_ type: Int8.Type) throws -> Int8 { try integer() }
        func decode(_ type: Int16.Type) throws -> Int16 { try integer() }
        func decode(_ type: Int32.Type) throws -> Int32 { try integer() }
        func decode(_ type: Int64.Type) throws -> Int64 { try integer() }
        func decode(_ type: UInt.Type) throws -> UInt { try integer() }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try integer() }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try integer() }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try integer() }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try integer() }
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try IPLDDecoderImpl.decode(type, from: value, codingPath: codingPath)
        }

        private func mismatch(_ expected: String) -> DagCBORError {
            IPLDDecoderImpl.mismatch(expected, value, codingPath)
        }

        private func integer<T: FixedWidthInteger>() throws -> T {
            guard case .integer(let i) = value else { throw mismatch("int") }
            let result: T?
            if i.isNegative {
                result = i.int64Value.flatMap { T(exactly: $0) }
            } else {
                result = T(exactly: i.argument)
            }
            guard let result else { throw mismatch("an int that fits \(T.self) (got \(i))") }
            return result
        }
    }
}
