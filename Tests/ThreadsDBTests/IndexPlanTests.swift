import Testing
import ThreadsTestKit

@testable import ThreadsDB

/// A sorted in-memory stand-in for a LevelDB index on one path: keys `encode(value) + id`.
private struct SimulatedIndex {
    let keys: [[UInt8]]

    init(_ documents: [JSON], path: FieldPath) {
        var keys: [[UInt8]] = []
        for document in documents {
            let id = Array(document["_id"]!.stringValue!.utf8)
            for entry in IndexKey.entries(of: document, at: path) { keys.append(entry + id) }
        }
        self.keys = keys.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// The ids with an entry in one of the ranges, read as a store would: seek, then scan while the
    /// keys keep the range's common prefix.
    func read(_ ranges: [KeyRange]) -> Set<String> {
        var ids: Set<String> = []
        for range in ranges {
            let prefix = range.commonPrefix
            let seek = range.lower ?? prefix
            var index = keys.partitioningIndex { !$0.lexicographicallyPrecedes(seek) }
            while index < keys.count, keys[index].starts(with: prefix) {
                let key = keys[index][...]
                let length = IndexKey.encodedLength(key)!
                if range.contains(key.prefix(length)) {
                    ids.insert(String(decoding: key.dropFirst(length), as: UTF8.self))
                }
                index += 1
            }
        }
        return ids
    }
}

extension Array {
    /// The first index whose element satisfies `predicate`, which must be false then true along the array.
    fileprivate func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if predicate(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

@Suite(.timeLimit(.minutes(5))) struct IndexPlanTests {
    @Test func plansSelectSupersetsAndTheIndexPathEqualsTheScan() throws {
        var rng = SeededGenerator(seed: 0x5EED_0020)
        let documents = Corpus.documents(&rng, count: 300)
        let byID = Dictionary(uniqueKeysWithValues: documents.map { ($0["_id"]!.stringValue!, $0) })
        let indexed = Corpus.indexablePaths.map(FieldPath.init)
        // As a store would track it: the indexed paths where no instance holds an array.
        let arrayFree = Set(indexed.filter { path in documents.allSatisfy { $0.value(at: path)?.arrayValue == nil } })
        #expect(arrayFree.contains(FieldPath("n")) && arrayFree.contains(FieldPath("s")))
        let indexes = Dictionary(uniqueKeysWithValues: indexed.map { ($0, SimulatedIndex(documents, path: $0)) })

        var planned = 0
        var intersected = 0
        var empty = 0
        for round in 0..<2000 {
            let filterJSON = round.isMultiple(of: 2) ? Corpus.plannableFilter(&rng) : Corpus.filter(&rng)
            let queryJSON = Corpus.query(&rng, filter: filterJSON)
            let query = try Query(queryJSON)
            let scan = ids(query.run(over: documents))
            for known in [[], arrayFree] {
                guard let plan = query.filter.plan(indexed: indexed, arrayFree: known) else { continue }
                planned += 1
                if plan.ranges.isEmpty { empty += 1 }
                if plan.ranges.count == 1, plan.ranges[0].lower != nil, plan.reason.contains("/") { intersected += 1 }
                #expect(indexed.contains(plan.path))
                for (a, b) in zip(plan.ranges, plan.ranges.dropFirst()) {
                    #expect(a.upper!.lexicographicallyPrecedes(b.lower!), "ranges must ascend: \(plan)")
                }
                // Superset: every matching document has an entry in a range.
                for document in documents where query.filter.matches(document) {
                    let entries = IndexKey.entries(of: document, at: plan.path)
                    let covered = entries.contains { entry in plan.ranges.contains { $0.contains(entry[...]) } }
                    #expect(covered, "\(plan) misses \(document) for \(filterJSON)")
                }
                // The index path: read, dedupe, re-check the filter, sort and page.
                let candidates = indexes[plan.path]!.read(plan.ranges).map { byID[$0]! }
                let matching = candidates.filter { query.filter.matches($0) }
                #expect(ids(query.arrange(matching)) == scan, "\(plan) for \(queryJSON)")
                #expect(ids(query.run(over: candidates)) == scan)
            }
        }
        // Enough plans of every kind were exercised.
        #expect(planned > 1000)
        #expect(intersected > 30)
        #expect(empty > 20)
    }

    @Test func rangeBoundsAndReasons() throws {
        let adult = try Filter(["age": ["$gte": 18, "$lt": 65]])
        let age = FieldPath("age")
        let both = try #require(adult.plan(indexed: [age], arrayFree: [age]))
        let eighteen = IndexKey.encode(18)!
        let sixtyFive = IndexKey.encode(65)!
        #expect(both.ranges == [KeyRange(lower: eighteen, upper: sixtyFive, upperInclusive: false)])
        #expect(both.description == "index on age ($gte/$lt): 1 range")
        // 18 and 65 share the type tag and the top byte of their exponents.
        #expect(both.ranges[0].commonPrefix == [0x04, 0xC0])
        // Without knowing the field holds no arrays, only the lower bound is safe.
        let lower = try #require(adult.plan(indexed: [age]))
        #expect(lower.reason == "$gte")
        #expect(lower.ranges.count == 1 && lower.ranges[0].lower == eighteen && lower.ranges[0].lowerInclusive)
        #expect(lower.ranges[0].contains(IndexKey.encode(1e9)![...]))
        #expect(!lower.ranges[0].contains(IndexKey.encode("zzz")![...]))
        #expect(lower.ranges[0].commonPrefix == [0x04])
        // The reason: [3, 20] matches through different elements, and 20 is in the lower range.
        let multikey: JSON = ["_id": "m", "age": [3, 20]]
        let contradictory = try Filter(["age": ["$gt": 10, "$lt": 5]])
        #expect(contradictory.matches(multikey))
        let plan = try #require(contradictory.plan(indexed: [age]))
        #expect(IndexKey.entries(of: multikey, at: age).contains { plan.ranges[0].contains($0[...]) })
        #expect(contradictory.plan(indexed: [age], arrayFree: [age])?.ranges == [])

        let strings = try #require(Filter(["s": ["$lt": "m"]]).plan(indexed: [FieldPath("s")]))
        #expect(strings.ranges == [KeyRange(lower: [0x05], upper: IndexKey.encode("m"), upperInclusive: false)])
        #expect(strings.ranges[0].commonPrefix == [0x05])
        let above = try #require(Filter(["s": ["$gte": "m", "$gt": "m"]]).plan(indexed: [FieldPath("s")]))
        #expect(
            above.ranges == [
                KeyRange(
                    lower: IndexKey.encode("m"),
                    lowerInclusive: false,
                    upper: [0x05, 0xFF],
                    upperInclusive: false
                )
            ]
        )
        // Mixed operand types cannot both hold for a scalar.
        let mixed = try Filter(["s": ["$gt": 1, "$lt": "a"]])
        #expect(mixed.plan(indexed: [FieldPath("s")], arrayFree: [FieldPath("s")])?.ranges == [])
        #expect(mixed.plan(indexed: [FieldPath("s")])?.ranges.count == 1)
    }

    @Test func choosingAnIndex() throws {
        let paths = ["age", "name", "tags", "city"].map(FieldPath.init)
        func plan(_ filter: JSON, arrayFree: Set<FieldPath> = []) throws -> IndexPlan? {
            try Filter(filter).plan(indexed: paths, arrayFree: arrayFree)
        }
        let ann = try #require(try plan(["age": ["$gt": 5], "name": "Ann", "tags": ["$in": ["a", "b"]]]))
        #expect(ann.description == "index on name ($eq): 1 range")
        #expect(ann.ranges == [.exactly(IndexKey.encode("Ann")!)])
        #expect(ann.ranges[0].commonPrefix == IndexKey.encode("Ann")!)
        let tags = try #require(try plan(["age": ["$gt": 5, "$lt": 9], "tags": ["$in": ["b", "a", "b", true]]]))
        #expect(tags.description == "index on tags ($in): 3 ranges")
        #expect(tags.ranges == [true, "a", "b"].map { .exactly(IndexKey.encode($0)!) })
        let two = try plan(["age": ["$gt": 5, "$lt": 9], "name": ["$gte": "A"]], arrayFree: [FieldPath("age")])
        #expect(two?.description == "index on age ($gt/$lt): 1 range")
        #expect(try plan(["age": ["$in": []], "name": "Ann"])?.description == "index on age ($in): 0 ranges")
        #expect(try plan(["$and": [["name": ["$gt": "A"]], ["$and": [["city": "Oslo"]]]]])?.path == FieldPath("city"))
        // First listed wins a tie.
        #expect(try plan(["city": 1, "age": 2])?.path == FieldPath("age"))
        // Nothing the index can answer.
        #expect(try plan(["age": nil]) == nil)
        #expect(try plan(["age": ["$in": [1, nil]]]) == nil)
        #expect(try plan(["age": [1, 2]]) == nil)
        #expect(try plan(["age": ["k": 1]]) == nil)
        #expect(try plan(["age": ["$ne": 1]]) == nil)
        #expect(try plan(["age": ["$nin": [1]]]) == nil)
        #expect(try plan(["age": ["$exists": true]]) == nil)
        #expect(try plan(["age": ["$not": ["$gt": 1]]]) == nil)
        #expect(try plan(["$or": [["age": 1], ["age": 2]]]) == nil)
        #expect(try plan(["$nor": [["age": 1]]]) == nil)
        #expect(try plan(["other": 1]) == nil)
        #expect(try plan([:]) == nil)
    }
}
