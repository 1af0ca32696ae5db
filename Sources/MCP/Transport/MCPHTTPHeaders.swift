import Net

/// The HTTP headers MCP puts on its requests and reads from answers (values that need the base64
/// sentinel go through `MCPParameterHeaders.encode`).
/// Names are compared case-insensitively everywhere, as HTTP requires.
enum MCPHTTPHeaders {
    static let protocolVersion = "MCP-Protocol-Version"
    static let sessionID = "Mcp-Session-Id"
    static let method = "Mcp-Method"
    static let name = "Mcp-Name"
    static let lastEventID = "Last-Event-ID"
    static let accept = "Accept"
    static let contentType = "Content-Type"

    /// Where a 2026-07-28 message carries its version; its presence is what makes a message modern.
    static let versionMetaKey = "io.modelcontextprotocol/protocolVersion"

    /// `text` without leading and trailing spaces and tabs.
    static func trimmed(_ text: String) -> String {
        var view = Substring(text)
        while view.first == " " || view.first == "\t" { view = view.dropFirst() }
        while view.last == " " || view.last == "\t" { view = view.dropLast() }
        return String(view)
    }

    /// The first value of the header `name`, if the server sent one.
    static func value(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// The media type without its parameters, lowercased ("text/event-stream; charset=utf-8" reads
    /// "text/event-stream").
    static func mediaType(in headers: [(name: String, value: String)]) -> String? {
        guard let raw = value(contentType, in: headers) else { return nil }
        let type = raw.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return type.filter { $0 != " " && $0 != "\t" }.lowercased()
    }

    /// The version a modern-era message names in `params._meta`; nil for legacy messages.
    static func metaVersion(of message: JSONRPCMessage) -> String? {
        switch message {
        case .request(_, _, let params), .notification(_, let params):
            params?["_meta"]?[versionMetaKey]?.stringValue
        case .response, .failure:
            nil
        }
    }

    /// `Mcp-Method`, and `Mcp-Name` where the 2026-07-28 revision requires it, for a modern request.
    static func routing(for message: JSONRPCMessage) -> [(name: String, value: String)] {
        guard case .request(_, let method, let params) = message else { return [] }
        // Method names are ASCII by definition; only Mcp-Name and Mcp-Param-* may use the sentinel.
        var headers: [(name: String, value: String)] = [(self.method, method)]
        let nameField: String? = switch method {
        case "tools/call", "prompts/get": "name"
        case "resources/read": "uri"
        default: nil
        }
        if let nameField, let value = params?[nameField]?.stringValue {
            headers.append((name, MCPParameterHeaders.encode(value)))
        }
        return headers
    }
}

extension JSONRPCError {
    /// What an HTTP transport delivers for a non-2xx answer that carried no JSON-RPC error: the status,
    /// and the start of the body with anything unprintable replaced, so a log line stays one line.
    static func forHTTPStatus(_ status: Int, body: [UInt8]) -> JSONRPCError {
        let printable = body.prefix(200).map { $0 >= 0x20 && $0 <= 0x7E ? $0 : UInt8(ascii: " ") }
        let text = MCPHTTPHeaders.trimmed(String(decoding: printable, as: UTF8.self))
        return JSONRPCError(code: httpStatus, message: text.isEmpty ? "HTTP \(status)" : "HTTP \(status): \(text)",
                            data: .object(["httpStatus": .number(Double(status))]))
    }

    /// The JSON-RPC error a non-2xx body carries, if it is one (servers put their refusals there).
    static func carried(in body: [UInt8]) -> JSONRPCError? {
        guard !body.isEmpty, let messages = try? JSONRPCMessage.parseAll(body) else { return nil }
        for case .failure(_, let error) in messages { return error }
        return nil
    }
}

extension MCPDeliveryFailure {
    /// What a failed transfer says about a request it carried: without a connection the server never
    /// saw it; once connected, it may have. curl's messages name the host, never our headers.
    static func from(_ error: HTTPClientError) -> MCPDeliveryFailure {
        switch error {
        case .connect(let reason): .notDelivered("could not connect: \(reason)")
        case .timeout(.connect): .notDelivered("timed out connecting")
        case .invalidRequest(let reason): .notDelivered("invalid request: \(reason)")
        case .timeout(let phase): .mayHaveBeenDelivered("\(phase.rawValue) timeout")
        case .network(let reason): .mayHaveBeenDelivered(reason)
        case .cancelled: .mayHaveBeenDelivered("cancelled")
        }
    }
}
