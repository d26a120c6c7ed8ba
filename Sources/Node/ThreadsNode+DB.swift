import Foundation
import Threads
import ThreadsDB

/// The `threads db …` commands on the daemon. Instances, schemas and queries arrive as JSON text
/// and results leave as JSON text (`"json"`), so numbers and booleans keep their JSON types.
extension ThreadsNode {
    nonisolated func dbCommand(_ command: String, _ request: [String: Any]) async throws -> Any {
        func text(_ key: String) throws -> String {
            guard let value = request[key] as? String else { throw NodeError("missing \(key)") }
            return value
        }
        func json(_ key: String) throws -> JSON {
            // A boolean schema (`true`) arrives as a flag from a JSON object body.
            if let flag = request[key] as? Bool { return .bool(flag) }
            return try JSON(parsing: try text(key))
        }
        func thread() throws -> ThreadID {
            let id = try ThreadID(try text("id"))
            guard try logstore.key(of: id) != nil else { throw ThreadsError.unknownThread(id) }
            return id
        }
        func reply(_ value: JSON) -> [String: Any] { ["json": value.serialized] }
        switch command {
        case "db.collection.create", "db.collection.update":
            let id = try thread()
            let schema = try JSONSchema(try json("schema"))
            let indexes = (request["indexes"] as? [String] ?? []).map(FieldPath.init)
            let definition = try CollectionDefinition(name: try text("collection"), schema: schema, indexes: indexes)
            if command == "db.collection.create" {
                try await db.newCollection(definition, in: id)
            } else {
                try await db.updateCollection(definition, in: id)
            }
            return reply(definition.json)
        case "db.collection.list":
            return reply(.array(try db.reader(try thread()).collections().map(\.json)))
        case "db.create", "db.save":
            let id = try thread()
            let collection = try text("collection")
            let value = try json("instances")
            let instances = value.arrayValue ?? [value]
            guard !instances.isEmpty else { throw NodeError("no instances given") }
            if command == "db.create" {
                return reply(.array(try await db.create(instances, in: collection, thread: id).map(JSON.string)))
            }
            try await db.save(instances, in: collection, thread: id)
            return reply(.array(instances.map { $0["_id"] ?? .null }))
        case "db.delete":
            let id = try thread()
            guard let ids = request["ids"] as? [String], !ids.isEmpty else { throw NodeError("no _id given") }
            try await db.delete(ids, in: try text("collection"), thread: id)
            return reply(.array(ids.map(JSON.string)))
        case "db.get":
            let reader = try db.reader(try thread())
            let collection = try text("collection")
            let instanceID = try text("instance")
            guard let found = try reader.get(collection, id: instanceID) else {
                throw DBError.instanceNotFound(collection: collection, id: instanceID)
            }
            return reply(found)
        case "db.has":
            return reply(.bool(try db.reader(try thread()).has(try text("collection"), id: try text("instance"))))
        case "db.find":
            let reader = try db.reader(try thread())
            let query = try Query(request["query"] == nil ? .object([:]) : try json("query"))
            let collection = try text("collection")
            if (request["explain"] as? Bool) == true {
                let (results, explanation) = try reader.run(collection, query)
                return reply(.object(["explain": explanation.json, "results": .array(results)]))
            }
            return reply(.array(try reader.find(collection, query)))
        case "db.write":
            let id = try thread()
            let actions = try Self.writeActions(try json("actions"))
            return reply(.array(try await db.write(actions, in: id).map(JSON.string)))
        case "db.digest":
            let id = try thread()
            return reply(.object(["thread": .string(id.description), "digest": .string(try db.reader(id).digest())]))
        default:
            throw NodeError("unknown command \(command)")
        }
    }

    /// A transaction as JSON: `[{"action": "create"|"save", "collection": c, "instance": {…}},
    /// {"action": "delete", "collection": c, "id": "…"}, {"action": "collection", "name": c,
    /// "schema": {…}, "indexes": […], "update": bool}]`.
    public static func writeActions(_ value: JSON) throws -> [WriteAction] {
        guard let list = value.arrayValue else { throw DBError.badQuery("a transaction is a JSON array of actions") }
        return try list.enumerated().map { index, item throws -> WriteAction in
            func field(_ name: String) throws -> JSON {
                guard let value = item[name] else { throw NodeError("action \(index): missing \(name)") }
                return value
            }
            func string(_ name: String) throws -> String {
                guard let value = try field(name).stringValue else {
                    throw NodeError("action \(index): \(name) must be a string")
                }
                return value
            }
            switch item["action"]?.stringValue {
            case "create": return .create(collection: try string("collection"), instance: try field("instance"))
            case "save": return .save(collection: try string("collection"), instance: try field("instance"))
            case "delete": return .delete(collection: try string("collection"), id: try string("id"))
            case "collection":
                let indexes = (item["indexes"]?.arrayValue ?? []).compactMap(\.stringValue).map(FieldPath.init)
                let definition = try CollectionDefinition(
                    name: try string("name"),
                    schema: JSONSchema(try field("schema")),
                    indexes: indexes
                )
                return item["update"]?.boolValue == true ? .updateCollection(definition) : .newCollection(definition)
            default:
                throw NodeError("action \(index): \"action\" must be create, save, delete or collection")
            }
        }
    }
}
