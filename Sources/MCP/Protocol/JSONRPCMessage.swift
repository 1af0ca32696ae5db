import Net

/// One JSON-RPC 2.0 message, in either direction. MCP runs every transport on these four shapes.
public enum JSONRPCMessage: Sendable, Equatable {
    case request(id: JSONRPCID, method: String, params: JSONValue?)
    case notification(method: String, params: JSONValue?)
    case response(id: JSONRPCID, result: JSONValue)
    /// `id` is nil only when the peer could not read the id of the request it refuses.
    case failure(id: JSONRPCID?, error: JSONRPCError)

    /// Why bytes were not a JSON-RPC message; `offset`-precise when the JSON itself is broken.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// The id of a request or a response, nil for notifications.
    public var id: JSONRPCID? {
        switch self {
        case .request(let id, _, _), .response(let id, _): id
        case .failure(let id, _): id
        case .notification: nil
        }
    }

    public var method: String? {
        switch self {
        case .request(_, let method, _), .notification(let method, _): method
        case .response, .failure: nil
        }
    }

    // MARK: Reading

    /// One message or a batch (protocol 2025-03-26 allowed servers to send arrays).
    public static func parseAll(_ bytes: [UInt8]) throws(ParseError) -> [JSONRPCMessage] {
        let document: JSONValue
        do { document = try JSONValue.parse(bytes) } catch { throw ParseError(reason: error.description) }
        if case .array(let items) = document {
            guard !items.isEmpty else { throw ParseError(reason: "empty batch") }
            var messages: [JSONRPCMessage] = []
            messages.reserveCapacity(items.count)
            for item in items { messages.append(try decode(item)) }
            return messages
        }
        return [try decode(document)]
    }

    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> JSONRPCMessage {
        let document: JSONValue
        do { document = try JSONValue.parse(bytes) } catch { throw ParseError(reason: error.description) }
        return try decode(document)
    }

    public static func decode(_ value: JSONValue) throws(ParseError) -> JSONRPCMessage {
        guard case .object(let members) = value else { throw ParseError(reason: "a message must be a JSON object") }
        guard members["jsonrpc"]?.stringValue == "2.0" else { throw ParseError(reason: "\"jsonrpc\" must be \"2.0\"") }
        let params = members["params"]
        if let params, !(params.objectValue != nil || params.arrayValue != nil) {
            throw ParseError(reason: "\"params\" must be an object or an array")
        }
        if let methodValue = members["method"] {
            guard let method = methodValue.stringValue else { throw ParseError(reason: "\"method\" must be a string") }
            guard let rawID = members["id"] else { return .notification(method: method, params: params) }
            guard let id = JSONRPCID(json: rawID) else { throw ParseError(reason: "a request id must be a string or an integer") }
            return .request(id: id, method: method, params: params)
        }
        let rawID = members["id"] ?? .null
        let id = JSONRPCID(json: rawID)
        if let errorValue = members["error"] {
            guard let code = errorValue["code"]?.intValue, let message = errorValue["message"]?.stringValue else {
                throw ParseError(reason: "an error needs an integer \"code\" and a string \"message\"")
            }
            guard id != nil || rawID.isNull else { throw ParseError(reason: "a response id must be a string or an integer") }
            return .failure(id: id, error: JSONRPCError(code: code, message: message, data: errorValue["data"]))
        }
        guard let result = members["result"] else { throw ParseError(reason: "neither \"method\", \"result\" nor \"error\"") }
        guard let id else { throw ParseError(reason: "a response needs the id of its request") }
        return .response(id: id, result: result)
    }

    // MARK: Writing

    public var json: JSONValue {
        var members: [String: JSONValue] = ["jsonrpc": .string("2.0")]
        switch self {
        case .request(let id, let method, let params):
            members["id"] = id.json
            members["method"] = .string(method)
            if let params { members["params"] = params }
        case .notification(let method, let params):
            members["method"] = .string(method)
            if let params { members["params"] = params }
        case .response(let id, let result):
            members["id"] = id.json
            members["result"] = result
        case .failure(let id, let error):
            members["id"] = id?.json ?? .null
            var body: [String: JSONValue] = ["code": .number(Double(error.code)), "message": .string(error.message)]
            if let data = error.data { body["data"] = data }
            members["error"] = .object(body)
        }
        return .object(members)
    }

    /// The message as one line of JSON, without the newline (JSON escapes every newline inside strings).
    public func serialized() -> [UInt8] { json.serialized() }
}

/// A JSON-RPC error object, and the codes MCP gives meaning to.
public struct JSONRPCError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var description: String { "\(message) (JSON-RPC error \(code))" }

    public static let parseError = -32700
    public static let invalidRequest = -32600
    public static let methodNotFound = -32601
    public static let invalidParams = -32602
    public static let internalError = -32603
    /// 2026-07-28: HTTP headers disagree with the body.
    public static let headerMismatch = -32020
    /// 2026-07-28: the request needs a client capability it did not declare.
    public static let missingRequiredClientCapability = -32021
    /// 2026-07-28: the requested protocol version is not served; `data.supported` lists what is.
    public static let unsupportedProtocolVersion = -32022
    /// Not from any peer: an HTTP transport turns a non-2xx answer without a JSON-RPC body into this,
    /// with `data.httpStatus`, so the session can tell a legacy server's refusal from a modern one's.
    public static let httpStatus = -32000

    /// The HTTP status an HTTP transport attached, when this error stands for one.
    public var httpStatus: Int? { code == Self.httpStatus ? data?["httpStatus"]?.intValue : nil }

    /// Errors only a server of the stateless (2026-07-28 and later) era sends.
    var isModernProtocolError: Bool {
        code == Self.unsupportedProtocolVersion || code == Self.headerMismatch || code == Self.missingRequiredClientCapability
    }
}
