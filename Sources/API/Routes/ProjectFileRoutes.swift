import Net
import Store

/// The project workspace (`project_files`), the same files the chat engine's workspace tools read and
/// write: raw bytes in and out, versioned, with `ETag`/`If-Match` so two editors cannot silently
/// overwrite each other.
enum ProjectFileRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "/api/v1/projects/:id/files", .user, "The workspace's files with size and version (any member)", immediate: list),
        APIRoute(.get, "/api/v1/projects/:id/files/*path", .user, "A file's raw content, with its version as ETag (any member)",
                 immediate: get),
        APIRoute(.put, "/api/v1/projects/:id/files/*path", .user,
                 "Create or replace a file with the raw body; If-Match / If-None-Match: * make it conditional (owner, editor)", deferred: put),
        APIRoute(.delete, "/api/v1/projects/:id/files/*path", .user, "Delete a file (owner, editor)", deferred: delete),
    ]

    static let maxFileBytes = ProjectFile.maxBytes
    static let maxProjectBytes = ProjectFile.maxProjectBytes

    static func infoJSON(_ info: ProjectFileInfo) -> JSONValue {
        .object(["path": .string(info.path), "size": .int(info.size), "version": .int(info.version),
                 "updated_at": .int(info.updatedAt)])
    }

    /// The file path from the raw request path. The router's `*path` drops empty segments ("a//b"
    /// would pass as "a/b") and leaves escapes in, so the path is taken from the request line itself,
    /// after the five segments "api/v1/projects/:id/files", then percent-decoded and checked.
    static func filePath(_ request: HTTPRequest) throws(APIError) -> String {
        let parts = request.path.split(separator: "/", omittingEmptySubsequences: false)
        var index = 0
        var consumed = 0
        while index < parts.count && consumed < 5 {
            if !parts[index].isEmpty { consumed += 1 }
            index += 1
        }
        let raw = parts[min(index, parts.count)...].joined(separator: "/")
        guard let decoded = PercentDecoding.decode(raw) else {
            throw .unprocessable("the path \"\(raw)\" has a malformed percent escape or is not UTF-8", field: "path")
        }
        return try validate(decoded)
    }

    /// A workspace path in canonical form (`ProjectFile.canonicalPath`), or 422 naming the problem.
    static func validate(_ path: String) throws(APIError) -> String {
        switch ProjectFile.canonicalPath(path) {
        case .success(let canonical): return canonical
        case .failure(let problem): throw .unprocessable(problem.reason, field: "path")
        }
    }

    static func list(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let me = try context.me
        let id = context.parameter("id")
        let files = try context.read { db in
            _ = try ProjectAccess.require(db, id, me, .viewer)
            return try ProjectFile.list(db, projectID: id)
        }
        return Reply.page(files.map(infoJSON), next: nil)
    }

    static func get(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let me = try context.me
        let id = context.parameter("id")
        let path = try filePath(context.request)
        let file = try context.read { db in
            _ = try ProjectAccess.require(db, id, me, .viewer)
            return try ProjectFile.get(db, projectID: id, path: path)
        }
        guard let file else { throw .notFound("file \(JSONValue.string(path).serializedString) in this project") }
        var response = HTTPResponse(status: .ok, body: file.content)
        response.headers.add("Content-Type", "application/octet-stream")
        response.headers.add("ETag", "\"\(file.version)\"")
        return response
    }

    /// What the client's precondition headers ask of the current file.
    enum Expectation: Sendable {
        case any, absent, exists, version(Int)
    }

    static func expectation(_ request: HTTPRequest) throws(APIError) -> Expectation {
        let ifMatch = request.headers["If-Match"].map(trimmed)
        let ifNoneMatch = request.headers["If-None-Match"].map(trimmed)
        switch (ifMatch, ifNoneMatch) {
        case (nil, nil): return .any
        case (.some, .some): throw .badRequest("send If-Match or If-None-Match, not both", field: "If-None-Match")
        case (nil, .some(let value)):
            guard value == "*" else { throw .badRequest("If-None-Match takes only * (create, never replace)", field: "If-None-Match") }
            return .absent
        case (.some(let value), nil):
            if value == "*" { return .exists }
            guard value.count >= 3, value.hasPrefix("\""), value.hasSuffix("\""), let version = Int(value.dropFirst().dropLast()),
                  version > 0 else {
                throw .badRequest("If-Match must be * or a version this API gave as ETag, like \"3\"", field: "If-Match")
            }
            return .version(version)
        }
    }

    static func trimmed(_ text: String) -> String {
        String(text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    static func preconditionFailed(_ current: Int) -> APIError {
        var headers = HTTPHeaders()
        if current > 0 { headers.add("ETag", "\"\(current)\"") }
        return APIError(HTTPStatus(412), current == 0 ? "the file does not exist" : "the file is at version \(current)", headers: headers)
    }

    static func put(_ context: APIContext) async throws -> HTTPResponse {
        let me = try context.me
        let id = context.parameter("id")
        let path = try filePath(context.request)
        let content = context.request.body
        guard content.count <= maxFileBytes else {
            throw APIError(HTTPStatus(413), "the file is \(content.count) bytes; the limit is \(maxFileBytes) per file")
        }
        let expectation = try expectation(context.request)
        let (info, created) = try await context.write(audit: ("project.file.write", "project_file", { _ in "\(id)/\(path)" })) {
            db -> (ProjectFileInfo, Bool) in
            _ = try ProjectAccess.require(db, id, me, .editor)
            // One listing gives both the quota's total and the file's current version and size.
            let files = try ProjectFile.list(db, projectID: id)
            let current = files.first { $0.path == path }
            let expected: Int?
            switch expectation {
            case .any: expected = nil
            case .absent: expected = 0
            case .version(let version): expected = version
            case .exists:
                guard let current else { throw preconditionFailed(0) }
                expected = current.version
            }
            if let expected, expected != (current?.version ?? 0) { throw preconditionFailed(current?.version ?? 0) }
            let total = files.reduce(0) { $0 + $1.size } - (current?.size ?? 0) + content.count
            guard total <= maxProjectBytes else {
                throw APIError(HTTPStatus(413), "the workspace would hold \(total) bytes; the limit is \(maxProjectBytes) per project")
            }
            switch try ProjectFile.put(db, projectID: id, path: path, content: content, expectedVersion: expected) {
            case .written(let info): return (info, current == nil)
            case .conflict(let version): throw preconditionFailed(version)
            }
        }
        var response = Reply.json(infoJSON(info), status: created ? .created : .ok)
        response.headers.add("ETag", "\"\(info.version)\"")
        return response
    }

    static func delete(_ context: APIContext) async throws -> HTTPResponse {
        let me = try context.me
        let id = context.parameter("id")
        let path = try filePath(context.request)
        _ = try await context.write(audit: ("project.file.delete", "project_file", { _ in "\(id)/\(path)" })) { db in
            _ = try ProjectAccess.require(db, id, me, .editor)
            guard try ProjectFile.delete(db, projectID: id, path: path) else {
                throw APIError.notFound("file \(JSONValue.string(path).serializedString) in this project")
            }
        }
        return Reply.noContent
    }
}
