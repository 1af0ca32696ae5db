import Net

/// The OpenAPI 3.1 document, generated from the same route table the server registers, so the two
/// cannot drift; a test also checks it against live requests in both directions.
enum OpenAPIDocument {
    static func build(_ routes: [APIRoute], version: String) -> JSONValue {
        var paths: [String: [String: JSONValue]] = [:]
        for route in routes {
            let (path, parameters) = openAPIPath(route.pattern)
            var operation: [String: JSONValue] = [
                "operationId": .string(operationID(route)),
                "summary": .string(route.summary),
                "x-access": .string(route.access.rawValue),
                "responses": .object([
                    "2XX": .object(["description": "success", "content": .object(["application/json": .object(["schema": .object([:])])])]),
                    "default": .object(["description": "an RFC 9457 problem document naming what was wrong",
                                        "content": .object(["application/problem+json": .object(["schema": .object(["$ref": "#/components/schemas/Problem"])])])]),
                ]),
            ]
            if route.access != .anyone { operation["security"] = .array([.object(["bearer": .array([])])]) }
            if !parameters.isEmpty {
                operation["parameters"] = .array(parameters.map { name in
                    .object(["name": .string(name), "in": "path", "required": true, "schema": .object(["type": "string"])])
                })
            }
            if [HTTPMethod.post, .put, .patch].contains(route.method) {
                operation["requestBody"] = .object(["content": .object(["application/json": .object(["schema": .object(["type": "object"])])])])
            }
            paths[path, default: [:]][route.method.rawValue.lowercased()] = .object(operation)
        }
        return .object([
            "openapi": "3.1.0",
            "info": .object(["title": "BuilderAI API", "version": .string(version),
                             "description": "Accounts, projects, the app marketplace and administration. Unknown body fields are refused (400)."]),
            "servers": .array([.object(["url": "/"])]),
            "paths": .object(paths.mapValues { .object($0) }),
            "components": .object([
                "securitySchemes": .object(["bearer": .object(["type": "http", "scheme": "bearer",
                                                               "description": "a JWT access token or a personal API token (bai_…)"])]),
                "schemas": .object(["Problem": .object(["type": "object", "properties": .object([
                    "type": .object(["type": "string"]), "title": .object(["type": "string"]),
                    "status": .object(["type": "integer"]), "detail": .object(["type": "string"]),
                    "field": .object(["type": "string"]),
                ])])]),
            ]),
        ])
    }

    /// "/api/v1/apps/:id/files/*path" → ("/api/v1/apps/{id}/files/{path}", ["id", "path"]).
    static func openAPIPath(_ pattern: String) -> (String, [String]) {
        var names: [String] = []
        let segments = pattern.split(separator: "/").map { segment -> String in
            if segment.hasPrefix(":") || segment.hasPrefix("*") {
                names.append(String(segment.dropFirst()))
                return "{\(segment.dropFirst())}"
            }
            return String(segment)
        }
        return ("/" + segments.joined(separator: "/"), names)
    }

    static func operationID(_ route: APIRoute) -> String {
        route.method.rawValue.lowercased() + route.pattern.split(separator: "/").dropFirst(2).map { segment in
            let clean = segment.filter { $0.isLetter || $0.isNumber }
            return clean.prefix(1).uppercased() + clean.dropFirst()
        }.joined()
    }
}
