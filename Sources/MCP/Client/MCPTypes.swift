import Net

/// What a server told us about itself when the session started.
public struct MCPServerInfo: Sendable, Equatable {
    public var name: String
    public var version: String
    /// The revision in use for this session, e.g. "2026-07-28" or "2025-06-18".
    public var protocolVersion: String
    public var era: MCPEra
    public var capabilities: JSONValue
    public var instructions: String?

    /// Whether the server says it announces tool list changes.
    public var announcesToolChanges: Bool { capabilities["tools"]?["listChanged"]?.boolValue == true }
}

/// One tool as the server lists it. `raw` keeps every field we do not model (annotations, icons,
/// `_meta`), so nothing a server sends is lost on the way to the LLM or the API.
public struct MCPTool: Sendable, Equatable {
    public var name: String
    public var title: String?
    public var description: String?
    public var inputSchema: JSONValue
    public var outputSchema: JSONValue?
    public var raw: JSONValue

    init?(_ value: JSONValue) {
        guard let name = value["name"]?.stringValue, !name.isEmpty else { return nil }
        self.name = name
        title = value["title"]?.stringValue
        description = value["description"]?.stringValue
        inputSchema = value["inputSchema"] ?? .object(["type": .string("object")])
        outputSchema = value["outputSchema"]
        raw = value
    }
}

/// A `tools/call` result, passed through as the server sent it: content blocks, structured
/// content, and whether the tool itself reports failure (`isError`, which is a result, not an error).
public struct MCPToolResult: Sendable, Equatable {
    public var content: [JSONValue]
    public var structuredContent: JSONValue?
    public var isError: Bool
    /// Set when we cut the result to the size limit.
    public var truncated: Bool = false

    public init(content: [JSONValue], structuredContent: JSONValue? = nil, isError: Bool = false) {
        self.content = content
        self.structuredContent = structuredContent
        self.isError = isError
    }

    init(_ value: JSONValue) {
        content = value["content"]?.arrayValue ?? []
        structuredContent = value["structuredContent"]
        isError = value["isError"]?.boolValue ?? false
    }

    /// The text blocks joined, for callers (and tests) that only want text.
    public var text: String {
        content.compactMap { $0["type"]?.stringValue == "text" ? $0["text"]?.stringValue : nil }.joined(separator: "\n")
    }

    public var json: JSONValue {
        var members: [String: JSONValue] = ["content": .array(content), "isError": .bool(isError)]
        if let structuredContent { members["structuredContent"] = structuredContent }
        return .object(members)
    }
}

/// One `notifications/progress` for a running request.
public struct MCPProgress: Sendable, Equatable {
    public var progress: Double
    public var total: Double?
    public var message: String?
}

/// Why an MCP request did not produce a result.
public enum MCPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No answer within the time allowed; the server was told to stop (`notifications/cancelled`).
    case timeout(Duration)
    /// The caller gave up; the server was told to stop.
    case cancelled
    /// Never reached the server; safe to send elsewhere.
    case notDelivered(String)
    /// Reached the server or may have, and the answer was lost; it is not repeated blindly.
    case mayHaveBeenDelivered(String)
    /// The server answered with a JSON-RPC error.
    case server(JSONRPCError)
    /// The answer did not have the shape the protocol requires.
    case invalidResponse(String)
    /// No session: not started, handshake failed, or no server/replica can take the call.
    case unavailable(String)
    /// The manager knows no tool by this name.
    case unknownTool(String)

    public var description: String {
        switch self {
        case .timeout(let limit): "no answer within \(limit)"
        case .cancelled: "cancelled"
        case .notDelivered(let reason): "not delivered: \(reason)"
        case .mayHaveBeenDelivered(let reason): "the call may have run, but its result was lost: \(reason)"
        case .server(let error): "server error: \(error)"
        case .invalidResponse(let reason): "invalid response: \(reason)"
        case .unavailable(let reason): "unavailable: \(reason)"
        case .unknownTool(let name): "unknown tool \(name)"
        }
    }

    /// Whether this failure says something about the server's health (for breakers and failover):
    /// the caller's own mistakes and the tool's own errors do not.
    public var countsAgainstServer: Bool {
        switch self {
        case .timeout, .notDelivered, .mayHaveBeenDelivered, .invalidResponse, .unavailable: true
        case .cancelled, .unknownTool: false
        case .server(let error): error.code == JSONRPCError.internalError || error.httpStatus.map { $0 >= 500 } ?? false
        }
    }
}
