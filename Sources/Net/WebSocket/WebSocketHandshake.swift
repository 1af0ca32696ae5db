import CCrypto

/// A WebSocket endpoint: which subprotocols it speaks and who handles its connections.
public struct WebSocketRoute: Sendable {
    /// Subprotocols in the server's order of preference; empty means none is negotiated.
    public let subprotocols: [String]
    /// Whether a client must agree on one of `subprotocols` (else the handshake fails with 400).
    public let requiresSubprotocol: Bool
    /// Whether permessage-deflate may be negotiated on this endpoint.
    public let allowsCompression: Bool
    /// Creates the delegate for a new connection, on the connection's loop.
    public let makeDelegate: @Sendable (HTTPRequest, WebSocket) -> any WebSocketDelegate

    public init(subprotocols: [String] = [], requiresSubprotocol: Bool = false, allowsCompression: Bool = true,
                makeDelegate: @escaping @Sendable (HTTPRequest, WebSocket) -> any WebSocketDelegate) {
        self.subprotocols = subprotocols
        self.requiresSubprotocol = requiresSubprotocol
        self.allowsCompression = allowsCompression
        self.makeDelegate = makeDelegate
    }
}

/// Validates an opening handshake (RFC 6455 §4.2.1) and builds the 101 response.
public enum WebSocketHandshake {
    /// What a valid handshake agreed on.
    public struct Accepted {
        public let response: HTTPResponse
        public let subprotocol: String?
        public let deflate: PerMessageDeflateOptions?
    }

    /// The answer to a handshake: the 101 to send, or the error response explaining the refusal.
    public enum Outcome {
        case success(Accepted)
        case failure(HTTPResponse)
    }

    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    public static func validate(_ request: HTTPRequest, route: WebSocketRoute,
                                originCheck: (@Sendable (String?) -> Bool)?) -> Outcome {
        let headers = request.headers
        func refuse(_ status: HTTPStatus, _ detail: String, _ extra: HTTPHeaders = HTTPHeaders()) -> Outcome {
            .failure(.problem(status, detail: detail, extra: extra))
        }
        guard request.method == .get else {
            return refuse(.badRequest, "A WebSocket handshake must use GET.")
        }
        guard request.head.version == .http1_1 else {
            return refuse(.badRequest, "A WebSocket handshake needs HTTP/1.1.")
        }
        var upgradeHeaders = HTTPHeaders()
        upgradeHeaders.add("Upgrade", "websocket")
        upgradeHeaders.add("Sec-WebSocket-Version", "13")
        guard headers.containsToken("websocket", in: "Upgrade") else {
            return refuse(.upgradeRequired, "This endpoint speaks WebSocket only: send Upgrade: websocket.", upgradeHeaders)
        }
        guard headers.containsToken("upgrade", in: "Connection") else {
            return refuse(.badRequest, "The Connection header must include the token 'Upgrade'.")
        }
        let versions = headers.values("Sec-WebSocket-Version")
        guard !versions.isEmpty else {
            return refuse(.badRequest, "Sec-WebSocket-Version is missing; this server speaks version 13.")
        }
        guard versions.count == 1, versions[0] == "13" else {
            return refuse(.upgradeRequired, "Unsupported Sec-WebSocket-Version; this server speaks version 13.", upgradeHeaders)
        }
        let keys = headers.values("Sec-WebSocket-Key")
        guard keys.count == 1, isValidKey(keys[0]) else {
            return refuse(.badRequest, "Sec-WebSocket-Key must be one base64-encoded 16-byte value.")
        }
        if let originCheck, !originCheck(headers["Origin"]) {
            return refuse(.forbidden, "Origin '\(headers["Origin"] ?? "(none)")' is not allowed to connect.")
        }
        var chosen: String?
        let offered = headers.values("Sec-WebSocket-Protocol")
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingSpaces() }
        for candidate in route.subprotocols where offered.contains(candidate) {
            chosen = candidate
            break
        }
        if route.requiresSubprotocol && chosen == nil {
            return refuse(.badRequest, "Offer a supported subprotocol in Sec-WebSocket-Protocol: \(route.subprotocols.joined(separator: ", ")).")
        }
        var response = HTTPResponse(status: .switchingProtocols)
        response.headers.add("Upgrade", "websocket")
        response.headers.add("Connection", "Upgrade")
        response.headers.add("Sec-WebSocket-Accept", acceptValue(forKey: keys[0]))
        if let chosen { response.headers.add("Sec-WebSocket-Protocol", chosen) }
        var deflate: PerMessageDeflateOptions?
        if route.allowsCompression {
            let extensions = headers.values("Sec-WebSocket-Extensions")
            if !extensions.isEmpty, let negotiated = PerMessageDeflateOptions.negotiate(offers: extensions) {
                deflate = negotiated.options
                response.headers.add("Sec-WebSocket-Extensions", negotiated.response)
            }
        }
        return .success(Accepted(response: response, subprotocol: chosen, deflate: deflate))
    }

    /// base64(SHA-1(key + GUID)), computed with libcrypto.
    public static func acceptValue(forKey key: String) -> String {
        let input = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = EVP_Digest(input, input.count, &digest, &length, EVP_sha1(), nil)
        return base64Encoded(Array(digest[0..<Int(length)]))
    }

    /// A valid key is 24 base64 characters decoding to 16 bytes (so it ends in "==").
    static func isValidKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard bytes.count == 24, bytes[22] == UInt8(ascii: "="), bytes[23] == UInt8(ascii: "=") else { return false }
        let alphabet: (UInt8) -> Bool = { b in
            (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2B || b == 0x2F
        }
        guard bytes[0..<22].allSatisfy(alphabet) else { return false }
        var out = [UInt8](repeating: 0, count: 24)
        return EVP_DecodeBlock(&out, bytes, 24) == 18
    }
}

extension StringProtocol {
    /// Drops leading and trailing spaces and tabs (HTTP's OWS).
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" { view = view.dropLast() }
        return String(view)
    }
}
