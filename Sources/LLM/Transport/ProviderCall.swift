import Net

/// Timeouts for one provider call.
public struct ProviderTimeouts: Sendable, Equatable {
    public var connect: Duration = .seconds(10)
    /// Until the response head arrives (models can think a while before the first token).
    public var firstByte: Duration = .seconds(60)
    /// Longest silence between two chunks of a stream.
    public var idle: Duration = .seconds(60)
    /// The whole call.
    public var total: Duration = .seconds(600)

    public init() {}
}

/// One HTTP call to a provider: the codec builds the request, the response is framed (SSE or NDJSON)
/// and decoded into stream events, and transport failures become typed `LLMError`s. Lives on the
/// loop of its `HTTPClient`; every callback runs there.
final class ProviderCall: HTTPClientDelegate {
    private let codec: any ProviderCodec
    private var decoder: any ProviderStreamDecoder
    private let onEvent: (LLMStreamEvent) -> Void
    private let onEnd: (LLMError?) -> Void
    private var status = 0
    private var headers: [String: String] = [:]
    private var errorBody: [UInt8] = []
    private var sse = SSEParser()
    private var ndjson = NDJSONParser()
    private var transfer: HTTPClientTransfer?
    private var ended = false

    /// Starts the call. `onEvent` gets decoded events; `onEnd` is called once, with nil when the
    /// stream finished normally or with the error that ended it (also delivered only through onEnd).
    init(codec: any ProviderCodec, request: LLMRequest, endpoint: ProviderEndpoint, client: HTTPClient,
         timeouts: ProviderTimeouts, onEvent: @escaping (LLMStreamEvent) -> Void, onEnd: @escaping (LLMError?) -> Void) {
        self.codec = codec
        decoder = codec.makeDecoder()
        self.onEvent = onEvent
        self.onEnd = onEnd
        do {
            let wire = try codec.makeRequest(request, endpoint: endpoint)
            var request = HTTPClientRequest(method: wire.method, url: wire.url,
                                            headers: wire.headers.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) },
                                            body: wire.body, connectTimeout: timeouts.connect,
                                            firstByteTimeout: timeouts.firstByte, idleTimeout: timeouts.idle,
                                            totalTimeout: timeouts.total)
            request.headers.append((name: "Accept", value: codec.framing == .serverSentEvents ? "text/event-stream" : "application/x-ndjson"))
            transfer = client.start(request, delegate: self)
        } catch {
            // Report on a later loop turn, never from inside the initializer.
            client.loop.schedule(after: .zero) { self.end(error) }
        }
    }

    func cancel() {
        transfer?.cancel()
    }

    func didReceiveHead(status: Int, headers: [(name: String, value: String)]) {
        self.status = status
        for (name, value) in headers { self.headers[name.lowercased()] = value }
    }

    func didReceive(_ bytes: UnsafeRawBufferPointer) {
        guard !ended else { return }
        guard (200..<300).contains(status) else {
            // Error bodies are short; keep at most 64 KiB of one for the message.
            if errorBody.count < 65_536 { errorBody.append(contentsOf: bytes.prefix(65_536 - errorBody.count)) }
            return
        }
        do {
            switch codec.framing {
            case .serverSentEvents:
                try sse.feedBorrowing(bytes) { event in decoder.decode(event: event.type, data: event.data, deliver) }
            case .newlineDelimitedJSON:
                try ndjson.feed(bytes) { line in decoder.decode(event: nil, data: line, deliver) }
            }
        } catch {
            transfer?.cancel()
            end(.server(status: status, message: "the provider's stream could not be read: \(error)"))
        }
    }

    func didComplete(_ error: HTTPClientError?) {
        guard !ended else { return }
        if let error {
            end(ProviderCall.map(error))
            return
        }
        guard (200..<300).contains(status) else {
            end(codec.error(status: status, headers: headers, body: errorBody))
            return
        }
        if codec.framing == .newlineDelimitedJSON {
            ndjson.finish { line in decoder.decode(event: nil, data: line, deliver) }
        }
        for event in decoder.finish() { deliver(event) }
        end(nil)
    }

    /// Passes an event on; an error event ends the call (the transfer is stopped) and nothing is
    /// passed on after it.
    private func deliver(_ event: LLMStreamEvent) {
        guard !ended else { return }
        if case .error(let error) = event {
            transfer?.cancel()
            end(error)
            return
        }
        onEvent(event)
    }

    private func end(_ error: LLMError?) {
        guard !ended else { return }
        ended = true
        onEnd(error)
    }

    static func map(_ error: HTTPClientError) -> LLMError {
        switch error {
        case .connect(let message): .network("could not connect: \(message)")
        case .timeout(let kind): .timeout("the provider did not answer in time (\(kind.rawValue) timeout)")
        case .network(let message): .network(message)
        case .cancelled: .cancelled
        case .invalidRequest(let message): .badRequest(message)
        }
    }
}
