/// An HTTP status code with its reason phrase.
public struct HTTPStatus: Sendable, Equatable {
    public let code: Int
    public let reason: String

    public init(code: Int, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The standard reason phrase for a code (RFC 9110 §15).
    public init(_ code: Int) {
        self.code = code
        self.reason = HTTPStatus.reasons[code] ?? "Status \(code)"
    }

    public static let switchingProtocols = HTTPStatus(101)
    public static let ok = HTTPStatus(200)
    public static let created = HTTPStatus(201)
    public static let noContent = HTTPStatus(204)
    public static let badRequest = HTTPStatus(400)
    public static let forbidden = HTTPStatus(403)
    public static let notFound = HTTPStatus(404)
    public static let methodNotAllowed = HTTPStatus(405)
    public static let requestTimeout = HTTPStatus(408)
    public static let upgradeRequired = HTTPStatus(426)
    public static let internalServerError = HTTPStatus(500)
    public static let serviceUnavailable = HTTPStatus(503)

    private static let reasons: [Int: String] = [
        100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted",
        204: "No Content", 301: "Moved Permanently", 302: "Found", 304: "Not Modified",
        400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
        405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout", 409: "Conflict",
        410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large",
        415: "Unsupported Media Type", 417: "Expectation Failed", 422: "Unprocessable Content",
        426: "Upgrade Required", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
        500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
        503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
    ]
}

/// A complete response. The server adds `Date`, `Content-Length` and `Connection`.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A plain-text response.
    public static func text(_ text: String, status: HTTPStatus = .ok) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add("Content-Type", "text/plain; charset=utf-8")
        return HTTPResponse(status: status, headers: headers, body: Array(text.utf8))
    }

    /// A response whose body is already-encoded JSON.
    public static func json(_ json: String, status: HTTPStatus = .ok) -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add("Content-Type", "application/json")
        return HTTPResponse(status: status, headers: headers, body: Array(json.utf8))
    }

    /// An RFC 9457 problem document: `type` is about:blank, `title` the status reason, `detail` says
    /// exactly what was wrong.
    public static func problem(_ status: HTTPStatus, detail: String, extra: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var json = "{\"type\":\"about:blank\",\"title\":"
        appendJSONString(status.reason, to: &json)
        json += ",\"status\":\(status.code),\"detail\":"
        appendJSONString(detail, to: &json)
        json += "}"
        var headers = extra
        headers.replaceOrAdd("Content-Type", "application/problem+json")
        return HTTPResponse(status: status, headers: headers, body: Array(json.utf8))
    }

    /// Serializes the head (and the body unless `headOnly`) for HTTP/1.1.
    func serialize(into out: inout [UInt8], date: String, connection: String?, headOnly: Bool) {
        out.append(contentsOf: "HTTP/1.1 \(status.code) \(status.reason)\r\n".utf8)
        var hasContentLength = false
        for (name, value) in headers {
            if name.utf8.count == 14 && name.lowercased() == "content-length" { hasContentLength = true }
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "Date: ".utf8)
        out.append(contentsOf: date.utf8)
        out.append(contentsOf: "\r\n".utf8)
        // 1xx and 204 carry no body and must not announce one (RFC 9110 §8.6).
        if !hasContentLength && status.code >= 200 && status.code != 204 && status.code != 304 {
            out.append(contentsOf: "Content-Length: \(body.count)\r\n".utf8)
        }
        if let connection {
            out.append(contentsOf: "Connection: ".utf8)
            out.append(contentsOf: connection.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        if !headOnly { out.append(contentsOf: body) }
    }
}
