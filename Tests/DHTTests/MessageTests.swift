import DagCBOR
import Foundation
import Multiformats
import Sodium
import Store
import Testing
import ThreadsTestKit

@testable import DHT

@Suite("DHT datagrams and records", .timeLimit(.minutes(5)))
struct MessageTests {
    let identity = Ed25519.PrivateKey()

    func envelope(_ message: DHTMessage) -> Envelope {
        Envelope(
            transaction: [1, 2, 3, 4, 5, 6, 7, 8],
            sender: identity.publicKey.peerID,
            timestamp: DHTNode.nowMilliseconds(),
            message: message
        )
    }

    func sampleMessages() throws -> [DHTMessage] {
        let key = DHTKey(peer: identity.publicKey.peerID)
        let contact = DHTContact(
            peer: Ed25519.PrivateKey().publicKey.peerID,
            endpoint: try UDPEndpoint(ip: [10, 1, 2, 3], port: 9)
        )
        let six = DHTContact(
            peer: Ed25519.PrivateKey().publicKey.peerID,
            endpoint: try UDPEndpoint(ip: [0xfd] + [UInt8](repeating: 1, count: 15), port: 4006)
        )
        let provider = ProviderRecord(
            key: key,
            addresses: [try Multiaddr("/ip4/10.1.2.3/tcp/4006")],
            issued: 1_700_000_000_000,
            identity: identity
        )
        let peer = PeerRecord(sequence: 42, addresses: [try Multiaddr("/ip6/::1/tcp/1")], identity: identity)
        return [
            .ping, .findNode(target: key), .getProviders(key: key), .addProvider(provider), .putPeer(peer),
            .getPeer(contact.peer), .pong(observed: contact.endpoint), .nodes(closer: [contact, six]),
            .providers(records: [provider], closer: [contact]), .stored, .peer(record: peer, closer: [six]),
            .peer(record: nil, closer: []), .error("no"),
        ]
    }

    @Test func everyMessageRoundTrips() throws {
        for message in try sampleMessages() {
            let sealed = envelope(message).sealed(with: identity)
            let opened = try Envelope.open(sealed, limit: 4096)
            #expect(opened == envelope(message).withTimestamp(opened.timestamp))
            #expect(opened.message == message)
            #expect(sealed.count < 1400)
        }
    }

    @Test func anyFlippedBitIsRejected() throws {
        let sealed = envelope(.findNode(target: DHTKey(peer: identity.publicKey.peerID))).sealed(with: identity)
        var rejected = 0
        for index in sealed.indices {
            var forged = sealed
            forged[index] ^= 0x04
            if (try? Envelope.open(forged, limit: 4096)) == nil { rejected += 1 }
        }
        #expect(rejected == sealed.count)
    }

    @Test func aSignatureByAnotherKeyIsRejected() throws {
        var message = envelope(.ping)
        message.sender = Ed25519.PrivateKey().publicKey.peerID  // claims another identity
        let sealed = message.sealed(with: identity)
        #expect(throws: DHTError.badSignature(what: "datagram from \(message.sender)")) {
            try Envelope.open(sealed, limit: 4096)
        }
    }

    @Test func oversizedAndGarbageDatagramsGiveTypedErrors() throws {
        #expect(throws: DHTError.oversized(size: 5000, limit: 4096)) {
            try Envelope.open([UInt8](repeating: 0xa0, count: 5000), limit: 4096)
        }
        var rng = SeededGenerator(seed: 99)
        for length in [0, 1, 2, 7, 64, 300, 1399] {
            for _ in 0..<20 {
                #expect(throws: DHTError.self) { try Envelope.open(rng.bytes(length), limit: 4096) }
            }
        }
        // Truncations of a valid datagram.
        let sealed = envelope(.ping).sealed(with: identity)
        for cut in 0..<sealed.count {
            #expect(throws: DHTError.self) { try Envelope.open(Array(sealed.prefix(cut)), limit: 4096) }
        }
    }

    @Test func unknownFieldsVersionsAndOperationsAreRejected() throws {
        func sealedMap(_ edit: (inout [String: IPLD]) -> Void) -> [UInt8] {
            var fields: [String: IPLD] = [
                "v": .uint(1), "t": .bytes([1, 2, 3, 4, 5, 6, 7, 8]), "s": .bytes(identity.publicKey.peerID.bytes),
                "ts": .uint(DHTNode.nowMilliseconds()), "m": .map(["op": .string("ping")]),
            ]
            edit(&fields)
            fields["sig"] = .bytes(identity.signature(for: Envelope.domain + IPLD.map(fields).encoded))
            return IPLD.map(fields).encoded
        }
        #expect(throws: DHTError.malformed("unknown version 2")) {
            try Envelope.open(sealedMap { $0["v"] = .uint(2) }, limit: 4096)
        }
        #expect(throws: DHTError.malformed("unknown field 'x' in datagram")) {
            try Envelope.open(sealedMap { $0["x"] = .uint(1) }, limit: 4096)
        }
        #expect(throws: DHTError.malformed("unknown operation 'dance'")) {
            try Envelope.open(sealedMap { $0["m"] = .map(["op": .string("dance")]) }, limit: 4096)
        }
        #expect(throws: DHTError.self) {
            try Envelope.open(sealedMap { $0["m"] = .map(["op": .string("ping"), "extra": .null]) }, limit: 4096)
        }
        #expect(throws: DHTError.self) { try Envelope.open(sealedMap { $0["t"] = .bytes([1]) }, limit: 4096) }
    }

    /// A peer signs whatever it likes with its own key, so a valid signature says nothing about
    /// the message inside: mangled messages under good signatures give typed errors, and what
    /// parses is a message that seals and opens to itself.
    @Test func mangledMessagesUnderValidSignaturesFailCleanly() throws {
        var rng = SeededGenerator(seed: 51)
        let messages = try sampleMessages().map { try DagCBOR.encode($0.ipld) }
        var parsed = 0
        for round in 0..<5000 {
            guard let body = try? DagCBOR.decode(rng.mangled(messages[round % messages.count])) else { continue }
            var fields: [String: IPLD] = [
                "v": .uint(1), "t": .bytes([1, 2, 3, 4, 5, 6, 7, 8]), "s": .bytes(identity.publicKey.peerID.bytes),
                "ts": .uint(1_700_000_000_000), "m": body,
            ]
            fields["sig"] = .bytes(identity.signature(for: Envelope.domain + IPLD.map(fields).encoded))
            let opened: Envelope
            do {
                opened = try Envelope.open(IPLD.map(fields).encoded, limit: 1 << 20)
            } catch {
                // typed throws: a DHTError is the only other outcome
                continue
            }
            parsed += 1
            #expect(try Envelope.open(opened.sealed(with: identity), limit: 1 << 20).message == opened.message)
        }
        #expect(parsed > 0)
    }

    @Test func recordsCarryTheirSignersSignature() throws {
        let key = DHTKey(peer: identity.publicKey.peerID)
        let record = ProviderRecord(key: key, addresses: [], issued: 5, identity: identity)
        #expect(try ProviderRecord(ipld: record.ipld) == record)
        // A server cannot pass off a record with another provider or time.
        guard case .map(var fields) = record.ipld else {
            Issue.record("not a map")
            return
        }
        fields["t"] = .uint(6)
        #expect(throws: DHTError.self) { try ProviderRecord(ipld: .map(fields)) }
        fields["t"] = .uint(5)
        fields["p"] = .bytes(Ed25519.PrivateKey().publicKey.peerID.bytes)
        #expect(throws: DHTError.self) { try ProviderRecord(ipld: .map(fields)) }

        let peer = PeerRecord(sequence: 3, addresses: [try Multiaddr("/ip4/1.2.3.4/tcp/5")], identity: identity)
        #expect(try PeerRecord(ipld: peer.ipld) == peer)
        guard case .map(var peerFields) = peer.ipld else {
            Issue.record("not a map")
            return
        }
        peerFields["s"] = .uint(4)
        #expect(throws: DHTError.badSignature(what: "peer record of \(identity.publicKey.peerID)")) {
            try PeerRecord(ipld: .map(peerFields))
        }
    }

    /// The timestamp is the sender's to choose, up to UInt64.max: far-off ones are dropped as
    /// stale (one at the top of the range used to trap in the window check), and a current one
    /// is answered.
    @Test func extremeTimestampsAreDroppedNotTrapped() async throws {
        let node = DHTNode(
            identity: identity,
            socket: MemoryNetwork().socket(at: try UDPEndpoint(ip: [10, 0, 0, 1], port: 1))
        )
        let sender = Ed25519.PrivateKey()
        let source = try UDPEndpoint(ip: [10, 0, 0, 2], port: 2)
        func ping(at timestamp: UInt64) -> Datagram {
            let envelope = Envelope(
                transaction: Random.bytes(count: Envelope.transactionLength),
                sender: sender.publicKey.peerID,
                timestamp: timestamp,
                message: .ping
            )
            return Datagram(bytes: envelope.sealed(with: sender), source: source)
        }
        for timestamp in [UInt64.max, UInt64.max - 1, UInt64.max - 299_999, 0, 1] {
            await node.receive(ping(at: timestamp))
        }
        #expect(await node.stats.dropped["stale"] == 5)
        await node.receive(ping(at: DHTNode.nowMilliseconds()))
        #expect(await node.stats.requestsAnswered == 1)
    }

    /// An answer no request waits for is dropped before any of its signatures is checked (it may
    /// carry 32 provider records, each signed): one with a forged record inside counts as
    /// unexpected, not as a bad signature. An answer that is awaited is still checked in full.
    @Test func unsolicitedAnswersAreDroppedBeforeTheirSignaturesAreChecked() async throws {
        let node = DHTNode(
            identity: identity,
            socket: MemoryNetwork().socket(at: try UDPEndpoint(ip: [10, 0, 0, 1], port: 1))
        )
        let sender = Ed25519.PrivateKey()
        let key = DHTKey(peer: identity.publicKey.peerID)
        let genuine = ProviderRecord(key: key, addresses: [], issued: 1, identity: sender)
        var fields = try #require(genuine.ipld.mapValue)
        fields["t"] = .uint(2)  // no longer what was signed
        let forged = IPLD.map(fields)
        let answer = IPLD.map([
            "v": .uint(1), "t": .bytes(Random.bytes(count: Envelope.transactionLength)),
            "s": .bytes(sender.publicKey.peerID.bytes), "ts": .uint(DHTNode.nowMilliseconds()),
            "m": .map([
                "op": .string("providers"), "records": .list(Array(repeating: forged, count: 20)), "closer": .list([]),
            ]),
        ])
        var signed = try #require(answer.mapValue)
        signed["sig"] = .bytes(sender.signature(for: Envelope.domain + answer.encoded))
        let source = try UDPEndpoint(ip: [10, 0, 0, 2], port: 2)
        await node.receive(Datagram(bytes: IPLD.map(signed).encoded, source: source))
        #expect(await node.stats.dropped["unexpected"] == 1)
        #expect(await node.stats.dropped["bad-signature"] == nil)
        // The same bytes opened as an awaited answer would be: the forged record fails its check.
        #expect(throws: DHTError.self) { try Envelope.open(IPLD.map(signed).encoded, limit: 4096) }
    }

    /// Records offered for a key that is full are kept on disk only if the store keeps them, and
    /// a record pushed out is deleted there too: fresh identities (free to make) cannot fill the
    /// disk with records the node does not hold.
    @Test func persistedProviderRecordsFollowTheStore() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dht-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try Database(path: directory)
        var options = DHTNode.Options()
        options.providers.perKey = 3
        let node = DHTNode(
            identity: identity,
            socket: MemoryNetwork().socket(at: try UDPEndpoint(ip: [10, 0, 0, 1], port: 1)),
            database: database,
            options: options
        )
        let key = DHTKey(peer: Ed25519.PrivateKey().publicKey.peerID)
        let now = DHTNode.nowMilliseconds()
        func offer(issued: UInt64) async throws {
            let provider = Ed25519.PrivateKey()
            let record = ProviderRecord(key: key, addresses: [], issued: issued, identity: provider)
            let envelope = Envelope(
                transaction: Random.bytes(count: Envelope.transactionLength),
                sender: provider.publicKey.peerID,
                timestamp: now,
                message: .addProvider(record)
            )
            let source = try UDPEndpoint(ip: [10, 0, 1, 2], port: UInt16.random(in: 1000...60000))
            await node.receive(Datagram(bytes: envelope.sealed(with: provider), source: source))
        }
        func persisted() throws -> Int {
            try Keyspace(database, prefix: Keyspace.dht).scan(prefix: DHTNode.providersPrefix).count
        }
        for age in 0..<3 { try await offer(issued: now - 1000 - UInt64(age)) }
        #expect(try persisted() == 3)
        // Older than all three: not kept, not written.
        for _ in 0..<20 { try await offer(issued: now - 5000) }
        #expect(try persisted() == 3)
        // Newer: each displaces the oldest, on disk as in memory.
        for age in 0..<5 { try await offer(issued: now - UInt64(age)) }
        #expect(await node.providerStore.count == 3)
        #expect(try persisted() == 3)
        database.close()
    }

    /// A record's addresses are a host and a port or so: signed records with addresses of many
    /// components or many bytes are refused, as the parsed form of such a record held by a
    /// server would take tens of times its size in memory.
    @Test func recordsWithSprawlingAddressesAreRefused() throws {
        let key = DHTKey(peer: identity.publicKey.peerID)
        let good = try Multiaddr("/ip4/10.1.2.3/tcp/4006/p2p/\(identity.publicKey.peerID)")
        let long = try Multiaddr(String(repeating: "/tcp/1", count: 9))
        let wide = try Multiaddr("/dns4/" + String(repeating: "a", count: 253) + "/tcp/1")
        #expect(
            try ProviderRecord(ipld: ProviderRecord(key: key, addresses: [good], issued: 1, identity: identity).ipld)
                .addresses == [good]
        )
        for address in [long, wide] {
            let provider = ProviderRecord(key: key, addresses: [good, address], issued: 1, identity: identity)
            #expect(throws: DHTError.self) { try ProviderRecord(ipld: provider.ipld) }
            let peer = PeerRecord(sequence: 1, addresses: [address], identity: identity)
            #expect(throws: DHTError.self) { try PeerRecord(ipld: peer.ipld) }
        }
    }

    /// Contact IDs in answers are unproven, so a liar can fill its answers with made-up contacts
    /// nearer the target than anyone real, each costing the asker a timeout. A lookup takes only
    /// the k closest contacts of an answer and asks a bounded number in all.
    @Test(.timeLimit(.minutes(1))) func answersFullOfMadeUpContactsCannotDragALookupOn() async throws {
        let network = MemoryNetwork()
        var options = DHTNode.Options()
        options.requestTimeout = .milliseconds(20)
        options.retries = 0
        options.table.k = 4
        let victim = DHTNode(
            identity: Ed25519.PrivateKey(),
            socket: network.socket(at: SimulatedNetwork.endpoint(1)),
            options: options
        )
        await victim.start()
        let liar = Ed25519.PrivateKey()
        let liarSocket = network.socket(at: SimulatedNetwork.endpoint(2))
        // 32 contacts (a full list) at endpoints where nobody listens.
        let fakes = (0..<32).map {
            DHTContact(peer: Ed25519.PrivateKey().publicKey.peerID, endpoint: SimulatedNetwork.endpoint(100 + $0))
        }
        let responder = Task {
            for await datagram in liarSocket.inbound {
                guard let request = try? Envelope.open(datagram.bytes, limit: 4096) else { continue }
                let reply: DHTMessage
                switch request.message {
                case .ping: reply = .pong(observed: datagram.source)
                case .findNode: reply = .nodes(closer: fakes)
                default: continue
                }
                let answer = Envelope(
                    transaction: request.transaction,
                    sender: liar.publicKey.peerID,
                    timestamp: DHTNode.nowMilliseconds(),
                    message: reply
                )
                liarSocket.send(answer.sealed(with: liar), to: datagram.source)
            }
        }
        try await victim.ping(DHTContact(peer: liar.publicKey.peerID, endpoint: liarSocket.localEndpoint).multiaddr)
        let result = await victim.lookup(DHTKey(peer: Ed25519.PrivateKey().publicKey.peerID), goal: .node)
        // The liar, then at most k of its contacts (before: all 32, each a timeout).
        #expect(result.queried <= 1 + options.table.k)

        var capped = options
        capped.maxLookupQueries = 2
        let asker = DHTNode(
            identity: Ed25519.PrivateKey(),
            socket: network.socket(at: SimulatedNetwork.endpoint(3)),
            options: capped
        )
        await asker.start()
        try await asker.ping(DHTContact(peer: liar.publicKey.peerID, endpoint: liarSocket.localEndpoint).multiaddr)
        #expect(await asker.lookup(DHTKey(peer: Ed25519.PrivateKey().publicKey.peerID), goal: .node).queried <= 2)
        responder.cancel()
        await victim.stop()
        await asker.stop()
    }

    @Test func longAnswersAreSplitBelowTheTargetSize() async throws {
        let node = DHTNode(
            identity: identity,
            socket: MemoryNetwork().socket(at: try UDPEndpoint(ip: [10, 0, 0, 1], port: 1))
        )
        // Twenty IPv6 contacts do not fit in one 1,400-byte datagram.
        let contacts = (0..<20).map { index in
            DHTContact(
                peer: Ed25519.PrivateKey().publicKey.peerID,
                endpoint: try! UDPEndpoint(
                    ip: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: UInt8(index), count: 12),
                    port: 4006
                )
            )
        }
        let providers = (0..<20).map { _ in
            ProviderRecord(
                key: DHTKey(peer: identity.publicKey.peerID),
                addresses: [try! Multiaddr("/ip6/2001:db8::1/tcp/4006")],
                issued: 1,
                identity: Ed25519.PrivateKey()
            )
        }
        for message in [DHTMessage.nodes(closer: contacts), .providers(records: providers, closer: contacts)] {
            let parts = await node.split(message)
            #expect(parts.count > 1)
            for (index, part) in parts.enumerated() {
                var sealed = envelope(part)
                sealed.part = index
                sealed.parts = parts.count
                #expect(sealed.sealed(with: identity).count <= 1400)
            }
            #expect(DHTNode.merge(Dictionary(uniqueKeysWithValues: parts.enumerated().map { ($0, $1) })) == message)
        }
    }
}

extension Envelope {
    func withTimestamp(_ timestamp: UInt64) -> Envelope {
        var copy = self
        copy.timestamp = timestamp
        return copy
    }
}
