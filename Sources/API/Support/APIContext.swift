import Net
import Store

/// What a handler gets: the request, the caller (nil on anonymous routes), and the store.
public struct APIContext: Sendable {
    public let request: HTTPRequest
    public let user: User?
    let api: APIService
    let ip: String

    var store: Store { api.store }

    /// The caller on routes that require one.
    var me: User {
        get throws(APIError) {
            guard let user else { throw .unauthenticated }
            return user
        }
    }

    func parameter(_ name: String) -> String { request.parameters[name] ?? "" }

    /// A read on this request's loop (immediate handlers) — never from a task.
    func read<T>(_ body: (SQLiteConnection) throws -> T) throws(APIError) -> T {
        do {
            return try store.readers.read(loop: request.loopIndex, body)
        } catch {
            throw APIError.store(error)
        }
    }

    /// A read from a task, on the background pool.
    func readAsync<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { done in
            do {
                try store.readers.readInBackground(body) { done.resume(with: $0) }
            } catch {
                done.resume(throwing: error)
            }
        }
    }

    /// A write through the group-commit writer; `audit` adds an audit_log entry in the same commit.
    /// `audit.targetID` returns nil when nothing changed (no entry is written then).
    func write<T: Sendable>(audit: (action: String, targetType: String, targetID: @Sendable (T) -> String?)? = nil,
                            _ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        let actor = user?.id
        let ip = self.ip
        return try await store.writer.write { db in
            let result = try body(db)
            if let audit, let target = audit.targetID(result) {
                try AuditEntry.append(db, actorID: actor, action: audit.action, targetType: audit.targetType,
                                      targetID: target, ip: ip)
            }
            return result
        }
    }

    func query(_ name: String) -> String? { request.queryItems[name] }

    func limit(default value: Int = 50) throws(APIError) -> Int {
        guard let raw = query("limit") else { return value }
        guard let limit = Int(raw), (1...100).contains(limit) else {
            throw .badRequest("limit must be an integer from 1 to 100", field: "limit")
        }
        return limit
    }

    func cursor() throws(APIError) -> PageCursor? {
        guard let raw = query("cursor"), !raw.isEmpty else { return nil }
        guard let cursor = PageCursor(encoded: raw) else { throw .badRequest("cursor is not one this server gave out", field: "cursor") }
        return cursor
    }
}

/// Builds JSON responses.
enum Reply {
    static func json(_ value: JSONValue, status: HTTPStatus = .ok) -> HTTPResponse {
        var response = HTTPResponse(status: status, body: value.serialized())
        response.headers.add("Content-Type", "application/json")
        return response
    }

    static func page(_ items: [JSONValue], next: String?) -> HTTPResponse {
        json(.object(["items": .array(items), "next_cursor": next.map(JSONValue.string) ?? .null]))
    }

    static var noContent: HTTPResponse { HTTPResponse(status: .noContent) }
}

extension JSONValue {
    static func int(_ value: Int) -> JSONValue { .number(Double(value)) }
    static func int(_ value: Int64) -> JSONValue { .number(Double(value)) }
    static func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
}
