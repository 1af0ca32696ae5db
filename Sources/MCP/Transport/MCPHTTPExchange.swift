import Net

/// Told what one MCP HTTP exchange read, on the client's loop.
protocol MCPHTTPExchangeDelegate: AnyObject {
    func exchangeReceivedHead(_ exchange: MCPHTTPExchange)
    /// A JSON-RPC message from a 2xx body: the JSON document, or a `message` event of a stream.
    func exchange(_ exchange: MCPHTTPExchange, received message: JSONRPCMessage)
    /// An event of another type than `message` (the legacy transport's `endpoint` event).
    func exchange(_ exchange: MCPHTTPExchange, receivedEvent event: ServerSentEvent)
    /// The exchange is over; nil means the whole answer arrived, whatever its status.
    func exchange(_ exchange: MCPHTTPExchange, completedWith error: HTTPClientError?)
}

/// One HTTP request of an MCP transport and what came back: the head, the JSON-RPC messages of a 2xx
/// body (a JSON document, parsed once complete, or an event stream, parsed as it arrives), and the
/// start of any other body, which is all a refusal needs.
///
/// After `stop()` the transfer is cancelled and the delegate hears nothing more: the transport has
/// already settled whatever the exchange was carrying.
final class MCPHTTPExchange: HTTPClientDelegate {
    /// The request this exchange POSTed, if it POSTed one; its answer settles it.
    let requestID: JSONRPCID?
    let method: String?
    /// Whether the request carried a legacy session id (a 404 then means the session is gone).
    let carriedSession: Bool
    weak var delegate: (any MCPHTTPExchangeDelegate)?
    var transfer: HTTPClientTransfer?

    private(set) var status: Int?
    private(set) var headers: [(name: String, value: String)] = []
    /// The first bytes of a body that was neither a JSON-RPC document nor an event stream.
    private(set) var otherBody: [UInt8] = []
    /// The stream's last event id and the server's `retry` hint (milliseconds), for resuming it.
    private(set) var lastEventID: String?
    private(set) var retryMilliseconds: Int?
    /// Events carrying data that arrived on a stream (priming events included).
    private(set) var eventCount = 0
    private(set) var isStopped = false

    private var document: [UInt8]?
    private var parser: SSEParser?
    /// Set when we end the transfer ourselves because its body broke a limit.
    private var failure: HTTPClientError?

    static let maxDocumentBytes = 32 << 20
    static let maxOtherBytes = 64 << 10

    init(requestID: JSONRPCID? = nil, method: String? = nil, carriedSession: Bool = false,
         delegate: any MCPHTTPExchangeDelegate) {
        self.requestID = requestID
        self.method = method
        self.carriedSession = carriedSession
        self.delegate = delegate
    }

    var isSuccess: Bool { status.map { (200..<300).contains($0) } ?? false }

    /// Cancels the transfer; nothing more reaches the delegate.
    func stop() {
        isStopped = true
        transfer?.cancel()
    }

    // MARK: HTTPClientDelegate

    func didReceiveHead(status: Int, headers: [(name: String, value: String)]) {
        guard !isStopped else { return }
        self.status = status
        self.headers = headers
        if isSuccess {
            switch MCPHTTPHeaders.mediaType(in: headers) {
            case "application/json": document = []
            case "text/event-stream": parser = SSEParser()
            default: break
            }
        }
        delegate?.exchangeReceivedHead(self)
    }

    func didReceive(_ bytes: UnsafeRawBufferPointer) {
        guard !isStopped, failure == nil else { return }
        if var parser {
            // A local copy: delivering an event may re-enter the transport, which may read this exchange.
            self.parser = nil
            do throws(StreamParserError) {
                try parser.feed(bytes) { event in handle(event) }
            } catch {
                fail(.network("an event from the MCP server exceeded \(parser.maxEventBytes) bytes"))
            }
            lastEventID = parser.lastEventID
            retryMilliseconds = parser.reconnectionTime
            self.parser = parser
        } else if document != nil {
            guard document!.count + bytes.count <= Self.maxDocumentBytes else {
                return fail(.network("the MCP server's answer exceeded \(Self.maxDocumentBytes) bytes"))
            }
            document!.append(contentsOf: bytes)
        } else if otherBody.count < Self.maxOtherBytes {
            otherBody.append(contentsOf: bytes.prefix(Self.maxOtherBytes - otherBody.count))
        }
    }

    func didComplete(_ error: HTTPClientError?) {
        guard !isStopped else { return }
        let error = failure ?? error
        if error == nil, let document {
            self.document = nil
            // Empty is how servers acknowledge notifications (202 with a JSON content type).
            if !document.isEmpty {
                do {
                    for message in try JSONRPCMessage.parseAll(document) {
                        guard !isStopped else { return }
                        delegate?.exchange(self, received: message)
                    }
                } catch {
                    Log.warning("MCP server sent an unreadable JSON-RPC message", ["reason": error.description])
                }
            }
        }
        guard !isStopped else { return }
        isStopped = true
        delegate?.exchange(self, completedWith: error)
    }

    // MARK: Reading

    private func handle(_ event: ServerSentEvent) {
        guard !isStopped else { return }
        eventCount += 1
        if let id = event.id { lastEventID = id }
        guard event.event == nil || event.event == "message" else {
            delegate?.exchange(self, receivedEvent: event)
            return
        }
        // An event without data primes the client with an id to resume from; it carries no message.
        guard !event.data.isEmpty else { return }
        do {
            delegate?.exchange(self, received: try JSONRPCMessage.parse(Array(event.data.utf8)))
        } catch {
            Log.warning("MCP server sent an unreadable JSON-RPC message", ["reason": error.description])
        }
    }

    private func fail(_ error: HTTPClientError) {
        failure = error
        transfer?.cancel()
    }
}
