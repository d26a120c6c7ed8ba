import Testing
import ThreadsTestKit

@testable import ThreadsDB

@Suite(.timeLimit(.minutes(5))) struct QuerySemanticsTests {
    @Test func randomFiltersAgreeWithBruteForce() throws {
        var rng = SeededGenerator(seed: 0x5EED_0001)
        let documents = Corpus.documents(&rng, count: 300)
        var mismatches: [String] = []
        var selective = 0
        for _ in 0..<2000 {
            let json = Corpus.filter(&rng)
            let filter = try Filter(json)
            var hits = 0
            for document in documents {
                let expected = Naive.matches(json, document)
                if expected { hits += 1 }
                if filter.matches(document) != expected, mismatches.count < 5 {
                    mismatches.append("\(json) on \(document): expected \(expected)")
                }
            }
            if hits > 0 && hits < documents.count { selective += 1 }
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        // The random filters must actually discriminate, or agreement would prove little.
        #expect(selective > 500)
    }

    @Test func randomQueriesAgreeWithBruteForceSort() throws {
        var rng = SeededGenerator(seed: 0x5EED_0002)
        let documents = Corpus.documents(&rng, count: 300)
        var shuffled = documents
        shuffled.shuffle(using: &rng)
        var nonTrivial = 0
        for _ in 0..<300 {
            let json = Corpus.query(&rng, filter: rng.chance(0.3) ? [:] : Corpus.filter(&rng))
            let query = try Query(json)
            let expected = ids(Naive.run(json, over: documents))
            #expect(ids(query.run(over: documents)) == expected, "\(json)")
            // The order must not depend on the order instances are read in.
            #expect(ids(query.run(over: shuffled)) == expected, "\(json)")
            if expected.count > 1 { nonTrivial += 1 }
        }
        #expect(nonTrivial > 100)
    }

    @Test func precedesIsTheRunOrder() throws {
        var rng = SeededGenerator(seed: 0x5EED_0003)
        let documents = Corpus.documents(&rng, count: 200)
        for _ in 0..<100 {
            let query = try Query(Corpus.query(&rng, filter: [:]))
            let sorted = documents.sorted(by: query.precedes)
            var all = query
            all.skip = 0
            all.limit = nil
            #expect(ids(all.run(over: documents)) == ids(sorted))
            for (a, b) in zip(sorted, sorted.dropFirst()) {
                #expect(query.precedes(a, b) && !query.precedes(b, a))
            }
        }
    }

    @Test func documentedExamples() throws {
        func matches(_ filter: JSON, _ document: JSON) throws -> Bool {
            try Filter(filter).matches(document)
        }
        let ann: JSON = [
            "_id": "a", "name": "Ann", "age": 30, "tags": ["x", "y"], "nothing": nil,
            "address": ["city": "Oslo"],
        ]
        #expect(try matches(["name": "Ann", "age": ["$gte": 18, "$lt": 65]], ann))
        #expect(try matches(["address.city": ["$in": ["Oslo", "Bergen"]]], ann))
        #expect(try matches(["tags": "y"], ann))
        #expect(try matches(["tags.1": "y"], ann))
        #expect(try matches(["tags": ["x", "y"]], ann))
        #expect(try !matches(["tags": ["y", "x"]], ann))
        // `$eq null` matches missing and null fields; `$exists` tells them apart.
        #expect(try matches(["missing": nil], ann))
        #expect(try matches(["nothing": nil], ann))
        #expect(try matches(["nothing": ["$exists": true]], ann))
        #expect(try !matches(["missing": ["$exists": true]], ann))
        #expect(try !matches(["missing": ["$ne": nil]], ann))
        #expect(try matches(["missing": ["$not": ["$gt": 5]]], ann))
        #expect(try !matches(["missing": ["$lt": 5]], ann))
        #expect(try matches(["age": ["$nin": []]], ann))
        #expect(try !matches(["age": ["$in": []]], ann))
        // Ordering stays within a type: no number is below a string, and booleans are not ordered.
        #expect(try !matches(["age": ["$lt": "a"]], ann))
        #expect(try !matches(["flag": ["$gte": 0]], ["flag": true]))
        // Each comparison may be met by a different element of an array.
        #expect(try matches(["v": ["$gt": 10, "$lt": 5]], ["v": [3, 20]]))
        #expect(try !matches(["v": ["$gt": 10, "$lt": 5]], ["v": 7]))
        // Exact equality: -0 equals 0, strings compare bytes, not canonical equivalence.
        #expect(try matches(["v": 0], ["v": .number(-0.0)]))
        #expect(try !matches(["v": "\u{E9}"], ["v": "e\u{301}"]))
        #expect(try matches(["v": ["$gt": "e"]], ["v": "\u{E9}"]))
        #expect(try matches(["o": ["b": 2, "a": 1]], ["o": ["a": 1, "b": 2]]))
        #expect(try matches(["o": [:]], ["o": [:]]))
        #expect(try matches(["$or": [["a": 1], ["b": 1]], "$nor": [["c": 1]]], ["b": 1]))
        #expect(try !matches(["$or": [["a": 1], ["b": 1]], "$nor": [["c": 1]]], ["b": 1, "c": 1]))
    }

    @Test func sortOrderAcrossTypes() {
        let values: [JSON?] = [
            nil, .null, false, true, -1, 0, 2.5, "", "B", "a", "a\u{0}", "ab", "\u{E9}", [], [1], [1, 2], ["a"],
            // Objects sort by canonical text, where `{"` is below `{}`.
            ["a": 1], ["a": 2], ["b": 0], [:],
        ]
        for (i, a) in values.enumerated() {
            for (j, b) in values.enumerated() {
                let expected = i < j ? -1 : (i == j ? 0 : 1)
                #expect(ValueOrder.compare(a, b) == expected, "\(String(describing: a)) vs \(String(describing: b))")
            }
        }
        let query = Query(sort: [SortKey(FieldPath("v"), descending: true)], skip: 1, limit: 2)
        let documents: [JSON] = [
            ["_id": "c", "v": 1], ["_id": "b", "v": 1], ["_id": "a"], ["_id": "d", "v": "x"], ["_id": "e", "v": nil],
        ]
        // Descending by v, ties by ascending _id: d, b, c, e, a; then skip 1, limit 2.
        #expect(ids(query.run(over: documents)) == ["b", "c"])
        #expect(ids(Query().run(over: documents)) == ["a", "b", "c", "d", "e"])
        #expect(Query(limit: 0).run(over: documents).isEmpty)
        #expect(Query(skip: 9).run(over: documents).isEmpty)
    }
}

@Suite(.timeLimit(.minutes(5))) struct QueryParsingTests {
    @Test func validFilters() throws {
        #expect(try Filter([:]) == .all)
        #expect(try Filter(["name": "Ann"]) == .field(FieldPath("name"), [.eq("Ann")]))
        #expect(
            try Filter(["age": ["$lt": 65, "$gte": 18], "address.city": ["$in": ["Oslo", "Bergen"]]])
                == .and([
                    .field(FieldPath("address.city"), [.isIn(["Oslo", "Bergen"])]),
                    .field(FieldPath("age"), [.gte(18), .lt(65)]),
                ])
        )
        #expect(
            try Filter(["$or": [["a": 1], [:]], "b": ["$not": ["$exists": true, "$ne": 2]]])
                == .and([
                    .or([.field(FieldPath("a"), [.eq(1)]), .all]),
                    .field(FieldPath("b"), [.not([.exists(true), .ne(2)])]),
                ])
        )
        #expect(try Filter(["$nor": [["a": ["$nin": [1]]]]]) == .nor([.field(FieldPath("a"), [.notIn([1])])]))
        // Literal objects (no `$` keys, or none at all) mean equality.
        #expect(try Filter(["o": ["k": 1]]) == .field(FieldPath("o"), [.eq(["k": 1])]))
        #expect(try Filter(["o": [:]]) == .field(FieldPath("o"), [.eq([:])]))
        #expect(try Filter(["o": ["$eq": ["$gt": 1]]]) == .field(FieldPath("o"), [.eq(["$gt": 1])]))
    }

    @Test func validQueries() throws {
        let query = try Query(
            JSON(
                parsing: #"""
                    {"filter": {"age": {"$gte": 18}}, "sort": ["age", "-name", {"field": "x.y", "desc": true},
                     {"field": "z"}], "skip": 10, "limit": 5}
                    """#
            )
        )
        #expect(query.filter == .field(FieldPath("age"), [.gte(18)]))
        #expect(
            query.sort == [
                SortKey(FieldPath("age")), SortKey(FieldPath("name"), descending: true),
                SortKey(FieldPath("x.y"), descending: true), SortKey(FieldPath("z")),
            ]
        )
        #expect(query.skip == 10 && query.limit == 5)
        #expect(try Query([:]) == Query())
        #expect(try Query(["limit": 0]).limit == 0)
    }

    @Test func badFilters() {
        let cases: [(JSON, String)] = [
            (["age": ["$regex": "^A"]], "unknown operator $regex on age"),
            (["$where": "1"], "unknown operator $where"),
            (["age": ["$gt": 1, "x": 2]], "mixes operators"),
            (["age": ["$in": 1]], "$in on age needs an array"),
            (["age": ["$nin": "x"]], "$nin on age needs an array"),
            (["age": ["$not": 5]], "$not on age needs an operator object"),
            (["age": ["$not": ["a": 1]]], "$not on age"),
            (["age": ["$not": [:]]], "$not on age"),
            (["age": ["$not": ["$foo": 1]]], "unknown operator $foo"),
            (["age": ["$gt": nil]], "$gt on age needs a number or a string"),
            (["age": ["$lte": [1]]], "$lte on age needs a number or a string"),
            (["age": ["$exists": 1]], "$exists on age needs true or false"),
            (["$or": []], "$or needs a non-empty array"),
            (["$and": ["a"]], "$and needs a non-empty array of filter objects"),
            (["$nor": ["a": 1]], "$nor needs a non-empty array"),
            ([1], "a filter must be an object"),
        ]
        for (json, message) in cases {
            Self.expectBadQuery(json, message) { (json) throws(DBError) in _ = try Filter(json) }
        }
    }

    /// `parse` refuses `json` with a badQuery error whose reason contains `message`.
    static func expectBadQuery(_ json: JSON, _ message: String, _ parse: (JSON) throws(DBError) -> Void) {
        do {
            try parse(json)
            Issue.record("\(json) parsed")
        } catch {
            guard case .badQuery(let reason) = error else {
                Issue.record("\(json): \(error) is not badQuery")
                return
            }
            #expect(reason.contains(message), "\(json): \(reason)")
        }
    }

    @Test func badQueries() {
        let cases: [(JSON, String)] = [
            (["limit": -1], "limit must be a non-negative whole number"),
            (["skip": -3], "skip must be a non-negative whole number"),
            (["limit": 1.5], "limit must be"),
            (["limit": "5"], "limit must be"),
            (["where": [:]], "unknown query key \"where\""),
            (["sort": "age"], "sort must be an array"),
            (["sort": ["-"]], "names no field"),
            (["sort": [["field": "a", "order": 1]]], "unknown sort key member \"order\""),
            (["sort": [["desc": true]]], "needs \"field\""),
            (["sort": [["field": "a", "desc": 1]]], "must be a boolean"),
            (["sort": [1]], "a sort key must be a string or an object"),
            (["filter": ["a": ["$in": nil]]], "$in on a needs an array"),
            (["filter": []], "a filter must be an object"),
            ("q", "a query must be an object"),
        ]
        for (json, message) in cases {
            Self.expectBadQuery(json, message) { (json) throws(DBError) in _ = try Query(json) }
        }
    }
}
