/// Constants of the chat WebSocket protocol, `builderai.v1` (docs/protocol.md).
public enum ChatProtocol {
    /// The subprotocol clients offer in Sec-WebSocket-Protocol.
    public static let subprotocol = "builderai.v1"
    /// Where chat clients connect.
    public static let path = "/ws"
    /// Offered beside the subprotocol: `bearer.<credential>`. Never echoed back.
    public static let credentialPrefix = "bearer."

    /// Close codes beyond RFC 6455's.
    public enum CloseCode {
        /// No credential, or one that is unknown, expired, revoked or already used.
        public static let authenticationFailed: UInt16 = 4401
        /// The account is disabled.
        public static let accountDisabled: UInt16 = 4403
    }
}

/// The `code` of an `error` reply: what was wrong with a client message.
public enum ChatErrorCode: String, Sendable {
    case badRequest = "bad_request"
    case notFound = "not_found"
    case forbidden
    case notJoined = "not_joined"
    case queueFull = "queue_full"
    case rateLimited = "rate_limited"
    case busy
    case conflict
    case internalError = "internal"
}

/// A client message that cannot be carried out, with the reason in words.
public struct ChatError: Error, Sendable, Equatable {
    public var code: ChatErrorCode
    public var message: String

    public init(_ code: ChatErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}
