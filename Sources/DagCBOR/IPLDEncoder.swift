import Foundation
import Multiformats

/// Encodes `Encodable` Swift values as IPLD, so app types become DAG nodes.
///
/// `CID` values become links, `[UInt8]` and `Data` become bytes, `IPLD` values are embedded as they
/// are, and optional properties that are nil are left out of the map.
public struct IPLDEncoder {
    public init() {}

    /// The data-model value of `value`.
    public func encode<T: Encodable>(_ value: T) throws -> IPLD {
        if let special = IPLDEncoderNode.special(value) { return special }
        let root = IPLDEncoderNode()
        try value.encode(to: IPLDEncoderImpl(node: root, codingPath: []))
        return root.build()
    }
}

/// Encodes `Encodable` values straight to DAG-CBOR bytes.
public struct DagCBOREncoder {
    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        try DagCBOR.encode(IPLDEncoder().encode(value))
    }
}

/// A value under construction: containers are filled in as the encoder visits them.
final class IPLDEncoderNode {
    enum Content {
        case empty
        case value(IPLD)
        case list([IPLDEncoderNode])
        case map([String: IPLDEncoderNode])
    }

    var content: Content = .empty

    static func special(_ value: Any) -> IPLD? {
        switch value {
        case let v as IPLD: return v
        case let v as CID: return .link(v)
        case let v as [UInt8]: return .bytes(v)
        case let v as Data: return .bytes([UInt8](v))
        default: return nil
        }
    }

    func build() -> IPLD {
        switch content {
        case .empty:
            // A type that encoded nothing at all: an empty map, as Foundation's encoders do.
            return .map([:])
        case .value(let v): return v
        case .list(let nodes): return .list(nodes.map { $0.build() })
        case .map(let nodes): return .map(nodes.mapValues { $0.build() })
        }
    }
}

struct IPLDEncoderImpl: Encoder {
    let node: IPLDEncoderNode
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .map = node.content {} else { node.content = .map([:]) }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .list = node.content {} else { node.content = .list([]) }
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(node: node, codingPath: codingPath)
    }

    static func encode<T: Encodable>(_ value: T, into node: IPLDEncoderNode, codingPath: [any CodingKey]) throws {
        if let special = IPLDEncoderNode.special(value) {
            node.content = .value(special)
            return
        }
        try value.encode(to: IPLDEncoderImpl(node: node, codingPath: codingPath))
    }

    struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let node: IPLDEncoderNode
        let codingPath: [any CodingKey]

        private func child(_ key: Key) -> IPLDEncoderNode {
            let child = IPLDEncoderNode()
            if case .map(var entries) = node.content {
                entries[key.stringValue] = child
                node.content = .map(entries)
            }
            return child
        }

        mutating func encodeNil(forKey key: Key) throws { child(key).content = .value(.null) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try IPLDEncoderImpl.encode(value, into: child(key), codingPath: codingPath + [key])
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
            -> KeyedEncodingContainer<NestedKey>
        {
            IPLDEncoderImpl(node: child(key), codingPath: codingPath + [key]).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            IPLDEncoderImpl(node: child(key), codingPath: codingPath + [key]).unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder {
            IPLDEncoderImpl(node: child(Key(stringValue: "super")!), codingPath: codingPath)
        }
        mutating func superEncoder(forKey key: Key) -> any Encoder {
            IPLDEncoderImpl(node: child(key), codingPath: codingPath + [key])
        }
    }

    struct UnkeyedContainer: UnkeyedEncodingContainer {
        let node: IPLDEncoderNode
        let codingPath: [any CodingKey]
        var count: Int {
            if case .list(let items) = node.content { return items.count }
            return 0
        }

        private func append() -> IPLDEncoderNode {
            let child = IPLDEncoderNode()
            if case .list(var items) = node.content {
                items.append(child)
                node.content = .list(items)
            }
            return child
        }

        mutating func encodeNil() throws { append().content = .value(.null) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            try IPLDEncoderImpl.encode(value, into: append(), codingPath: codingPath)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<
            NestedKey
        > {
            IPLDEncoderImpl(node: append(), codingPath: codingPath).container(keyedBy: keyType)
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            IPLDEncoderImpl(node: append(), codingPath: codingPath).unkeyedContainer()
        }
        mutating func superEncoder() -> any Encoder {
            IPLDEncoderImpl(node: append(), codingPath: codingPath)
        }
    }

    struct SingleContainer: SingleValueEncodingContainer {
        let node: IPLDEncoderNode
        let codingPath: [any CodingKey]

        private func set(_ value: IPLD) { node.content = .value(value) }

        mutating func encodeNil() throws { set(.null) }
        mutating func encode(_ value: Bool) throws { set(.bool(value)) }
        mutating func encode(_ value: String) throws { set(.string(value)) }
        mutating func encode(_ value: Double) throws { set(.float(value)) }
        mutating func encode(_ value: Float) throws { set(.float(Double(value))) }
        mutating func encode(_ value: Int) throws { set(.integer(IPLDInteger(value))) }
        mutating func encode(_ value: Int8) throws { set(.integer(IPLDInteger(Int64(value)))) }
        mutating func encode(_ value: Int16) throws { set(.integer(IPLDInteger(Int64(value)))) }
        mutating func encode(_ value: Int32) throws { set(.integer(IPLDInteger(Int64(value)))) }
        mutating func encode(_ value: Int64) throws { set(.integer(IPLDInteger(value))) }
        mutating func encode(_ value: UInt) throws { set(.integer(IPLDInteger(UInt64(value)))) }
        mutating func encode(_ value: UInt8) throws { set(.integer(IPLDInteger(UInt64(value)))) }
        mutating func encode(_ value: UInt16) throws { set(.integer(IPLDInteger(UInt64(value)))) }
        mutating func encode(_ value: UInt32) throws { set(.integer(IPLDInteger(UInt64(value)))) }
        mutating func encode(_ value: UInt64) throws { set(.integer(IPLDInteger(value))) }
        mutating func encode<T: Encodable>(_ value: T) throws {
            try IPLDEncoderImpl.encode(value, into: node, codingPath: codingPath)
        }
    }
}
