/// One outgoing HTTP request: what to send and how long each phase may take.
///
/// Timeouts are optional and independent; nil means no limit for that phase.
public struct HTTPClientRequest: Sendable {
    public var method: String
    /// An absolute `http://` or `https://` URL.
    public var url: String
    /// Sent in this order; names are not validated beyond rejecting CR, LF, NUL and colons.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Until the TCP (and TLS) connection is up.
    public var connectTimeout: Duration?
    /// From `start` until the first byte of the response head.
    public var firstByteTimeout: Duration?
    /// The longest gap allowed between body chunks, counted from the head on; LLM streams that stall
    /// silently are caught by this one.
    public var idleTimeout: Duration?
    /// The whole exchange, start to last byte.
    public var totalTimeout: Duration?

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                connectTimeout: Duration? = .seconds(10), firstByteTimeout: Duration? = nil,
                idleTimeout: Duration? = nil, totalTimeout: Duration? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.firstByteTimeout = firstByteTimeout
        self.idleTimeout = idleTimeout
        self.totalTimeout = totalTimeout
    }
}

/// Why a transfer ended without a complete response. Messages come from curl and never include the
/// request's headers (they carry API keys).
public enum HTTPClientError: Error, Sendable, Equatable {
    /// Which phase ran out of time.
    public enum TimeoutKind: String, Sendable, Equatable {
        case connect, firstByte, idle, total
    }

    /// No connection could be made: refused, unresolvable, TLS handshake failed.
    case connect(String)
    case timeout(TimeoutKind)
    /// The connection failed after it was made: dropped mid-stream, malformed response, reset.
    case network(String)
    /// `HTTPClientTransfer.cancel()` was called.
    case cancelled
    /// The request could not be sent as given (bad URL, bad header, bad method).
    case invalidRequest(String)
}

/// Receives one transfer's response. Every method is called on the client's loop, in order:
/// `didReceiveHead` at most once (the final response's head, never a 1xx), `didReceive` per chunk,
/// then `didComplete` exactly once. A failure before the head skips straight to `didComplete`.
public protocol HTTPClientDelegate: AnyObject {
    func didReceiveHead(status: Int, headers: [(name: String, value: String)])
    /// `bytes` is valid only during the call; copy what must outlive it.
    func didReceive(_ bytes: UnsafeRawBufferPointer)
    /// nil when the whole response arrived (whatever its status).
    func didComplete(_ error: HTTPClientError?)
}
