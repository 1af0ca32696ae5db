import CCurl
import Glibc

/// One request in flight: owns its curl easy handle, its header list and its phase timers, and
/// relays curl's callbacks to the delegate.
public final class HTTPClientTransfer: @unchecked Sendable {
    // Invariant: mutable state is touched only on `loop`'s thread; `cancel` hops there when called
    // from elsewhere, which is the only reason the type is Sendable.

    let easy: UnsafeMutableRawPointer
    private let loop: EventLoop
    private weak var client: HTTPClient?
    private var delegate: (any HTTPClientDelegate)?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var headLines: [(name: String, value: String)] = []
    private var headDelivered = false
    /// Set when the transfer is being aborted from inside a curl callback; makes the callbacks refuse
    /// data until the client removes the handle.
    var abortReason: HTTPClientError?
    /// The socket curl last reported for this transfer (HTTPClient's socket callback), or -1: which
    /// connection a transfer used, e.g. for a test to look at the socket's TCP state.
    var socket: Int32 = -1
    /// True once `didComplete` has been called; nothing is delivered after.
    public private(set) var isCompleted = false
    /// The HTTP version of the response (`CURLINFO_HTTP_VERSION`): 1.0, 1.1, 2.0 or 3.0. Set just
    /// before `didReceiveHead`, so a delegate may read it there; nil until then.
    public private(set) var httpVersion: HTTPVersion?

    private var connectLimit: Duration?
    private var totalLimit: Duration?
    private var idleLimit: UInt64?
    private var firstByteTimer: LoopTimer?
    private var idleTimer: LoopTimer?
    private var lastActivity: UInt64 = 0
    private var pendingFirstByteLimit: Duration?

    init(client: HTTPClient, delegate: any HTTPClientDelegate) {
        guard let easy = curl_easy_init() else { fatalError("curl_easy_init failed") }
        self.easy = easy
        self.loop = client.loop
        self.client = client
        self.delegate = delegate
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    /// Aborts the transfer at once and completes it with `.cancelled`; nothing is delivered after.
    /// Safe from any thread (it hops to the loop); does nothing once the transfer has completed.
    public func cancel() {
        guard loop.inLoop else {
            loop.execute { self.cancel() }
            return
        }
        if let client {
            client.abort(self, .cancelled)
        } else {
            complete(.cancelled)
        }
    }

    // MARK: Setup

    /// Sets the easy handle's options; returns what is wrong with the request, if anything.
    func configure(_ request: HTTPClientRequest, caBundlePath: String?) -> String? {
        let method = request.method.uppercased()
        guard !method.isEmpty, method.utf8.allSatisfy(HTTPClientTransfer.isTokenByte) else { return "invalid method" }
        var hasExpect = false
        for (name, value) in request.headers {
            guard !name.isEmpty, name.utf8.allSatisfy(HTTPClientTransfer.isTokenByte) else { return "invalid header name" }
            guard !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                return "invalid value for header \(name)"
            }
            if name.lowercased() == "expect" { hasExpect = true }
            // "Name;" is curl's way to send a header with an empty value.
            headerList = curl_slist_append(headerList, value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        // curl waits up to a second for "100 Continue" on larger bodies; most APIs never send it.
        if !hasExpect { headerList = curl_slist_append(headerList, "Expect:") }

        let me = Unmanaged.passUnretained(self).toOpaque()
        setLong(CURLOPT_NOSIGNAL, 1)
        setLong(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        // Waiting to multiplex only makes sense where HTTP/2 can be negotiated (TLS with ALPN); over
        // plain http:// it made concurrent streams to one host queue behind each other.
        if request.url.lowercased().hasPrefix("https://") { setLong(CURLOPT_PIPEWAIT, 1) }
        // The given bundle is the whole trust store: the CA directory some builds add by default
        // (Debian's /etc/ssl/certs) is dropped too, so the outcome does not depend on the build.
        // Peer and host name verification stay on (curl's defaults).
        if let caBundlePath {
            caBundlePath.withCString { _ = ccurl_easy_setopt_ptr(easy, CURLOPT_CAINFO, $0) }
            ccurl_easy_setopt_ptr(easy, CURLOPT_CAPATH, nil)
        }
        setLong(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)
        setLong(CURLOPT_TCP_NODELAY, 1)
        request.url.withCString { _ = ccurl_easy_setopt_ptr(easy, CURLOPT_URL, $0) }
        "".withCString { _ = ccurl_easy_setopt_ptr(easy, CURLOPT_ACCEPT_ENCODING, $0) }
        ccurl_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, headerList)
        ccurl_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        ccurl_easy_setopt_write_callback(easy, CURLOPT_WRITEFUNCTION, transferBodyCallback)
        ccurl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
        ccurl_easy_setopt_write_callback(easy, CURLOPT_HEADERFUNCTION, transferHeaderCallback)
        ccurl_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me)

        if method == "HEAD" {
            setLong(CURLOPT_NOBODY, 1)
        } else if method == "POST" || !request.body.isEmpty {
            setLong(CURLOPT_POSTFIELDSIZE, request.body.count)
            // COPYPOSTFIELDS copies, so the request value may go away; a C "" stands in for no body.
            if request.body.isEmpty {
                "".withCString { _ = ccurl_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, $0) }
            } else {
                request.body.withUnsafeBytes { _ = ccurl_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) }
            }
        }
        if method != "GET" && method != "POST" && method != "HEAD" {
            method.withCString { _ = ccurl_easy_setopt_ptr(easy, CURLOPT_CUSTOMREQUEST, $0) }
        } else if method == "GET" && !request.body.isEmpty {
            "GET".withCString { _ = ccurl_easy_setopt_ptr(easy, CURLOPT_CUSTOMREQUEST, $0) }
        }

        connectLimit = request.connectTimeout
        totalLimit = request.totalTimeout
        if let limit = request.connectTimeout { setLong(CURLOPT_CONNECTTIMEOUT_MS, HTTPClientTransfer.milliseconds(limit)) }
        if let limit = request.totalTimeout { setLong(CURLOPT_TIMEOUT_MS, HTTPClientTransfer.milliseconds(limit)) }
        idleLimit = request.idleTimeout.map { $0.nanoseconds }
        pendingFirstByteLimit = request.firstByteTimeout
        return nil
    }

    func armStartTimers() {
        guard let limit = pendingFirstByteLimit else { return }
        firstByteTimer = loop.schedule(after: limit) { [weak self] in
            guard let self else { return }
            client?.abort(self, .timeout(.firstByte))
        }
    }

    private func setLong(_ option: CURLoption, _ value: Int) {
        ccurl_easy_setopt_long(easy, option, value)
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        // Rounded up: curl reads 0 as "no limit".
        max(1, Int((duration.nanoseconds + 999_999) / 1_000_000))
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    // MARK: From curl

    fileprivate func receivedHeaderLine(_ raw: UnsafeRawBufferPointer) -> Bool {
        guard abortReason == nil, !isCompleted else { return false }
        if headDelivered { return true }  // trailers of a chunked body
        if let firstByteTimer {
            loop.cancel(firstByteTimer)
            self.firstByteTimer = nil
        }
        var line = Substring(decoding: raw, as: UTF8.self)
        while line.last == "\r\n" || line.last == "\n" || line.last == "\r" { line.removeLast() }
        if line.isEmpty {
            var status = 0
            ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            // A 1xx head is interim (100 Continue, 103 Early Hints); the real one follows.
            if status >= 100 && status < 200 {
                headLines.removeAll()
                return true
            }
            deliverHead(status: status)
            return abortReason == nil && !isCompleted
        }
        if line.hasPrefix("HTTP/") {
            headLines.removeAll()
        } else if line.first == " " || line.first == "\t", !headLines.isEmpty {
            headLines[headLines.count - 1].value += " " + line.drop(while: { $0 == " " || $0 == "\t" })
        } else if let colon = line.firstIndex(of: ":") {
            var value = line[line.index(after: colon)...]
            while value.first == " " || value.first == "\t" { value.removeFirst() }
            while value.last == " " || value.last == "\t" { value.removeLast() }
            headLines.append((String(line[..<colon]), String(value)))
        }
        return true
    }

    fileprivate func receivedBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard abortReason == nil, !isCompleted else { return false }
        if !headDelivered {
            var status = 0
            ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            deliverHead(status: status)
            guard abortReason == nil, !isCompleted else { return false }
        }
        lastActivity = loop.now
        delegate?.didReceive(bytes)
        return abortReason == nil && !isCompleted
    }

    private func deliverHead(status: Int) {
        headDelivered = true
        var version = 0
        ccurl_easy_getinfo_long(easy, CURLINFO_HTTP_VERSION, &version)
        httpVersion = switch version {
        case Int(CURL_HTTP_VERSION_1_0): .http1_0
        case Int(CURL_HTTP_VERSION_1_1): .http1_1
        case Int(CURL_HTTP_VERSION_2_0): HTTPVersion(major: 2, minor: 0)
        case Int(CURL_HTTP_VERSION_3): HTTPVersion(major: 3, minor: 0)
        default: nil
        }
        let headers = headLines
        headLines = []
        lastActivity = loop.now
        if let idleLimit { armIdleTimer(at: lastActivity &+ idleLimit) }
        delegate?.didReceiveHead(status: status, headers: headers)
    }

    /// One timer for the whole stream: each chunk only stamps `lastActivity`, and the timer, when it
    /// fires early, moves itself to the new deadline. No heap operation per chunk.
    private func armIdleTimer(at deadline: UInt64) {
        idleTimer = loop.schedule(at: deadline) { [weak self] in
            guard let self, let idleLimit, !isCompleted else { return }
            let due = lastActivity &+ idleLimit
            if loop.now >= due {
                client?.abort(self, .timeout(.idle))
            } else {
                armIdleTimer(at: due)
            }
        }
    }

    // MARK: Completion

    /// Maps curl's result to ours; an abort requested from a callback wins over the write error it caused.
    func error(for code: CURLcode) -> HTTPClientError? {
        if let abortReason { return abortReason }
        switch code {
        case CURLE_OK:
            return nil
        case CURLE_OPERATION_TIMEDOUT:
            var pretransfer: curl_off_t = 0
            ccurl_easy_getinfo_off(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer)
            // Still connecting when time ran out: blame the connect limit if it was the tighter one.
            if pretransfer == 0, let connectLimit, totalLimit.map({ connectLimit <= $0 }) ?? true {
                return .timeout(.connect)
            }
            return .timeout(.total)
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY,
             CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE:
            return .connect(message(for: code))
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            return .invalidRequest(message(for: code))
        default:
            return .network(message(for: code))
        }
    }

    private func message(for code: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        return detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
    }

    /// Stops the timers and tells the delegate; the easy handle is freed when the last reference goes.
    func complete(_ error: HTTPClientError?) {
        guard !isCompleted else { return }
        isCompleted = true
        if let firstByteTimer { loop.cancel(firstByteTimer) }
        if let idleTimer { loop.cancel(idleTimer) }
        firstByteTimer = nil
        idleTimer = nil
        let delegate = self.delegate
        // Released so that a delegate holding its transfer does not keep both alive.
        self.delegate = nil
        delegate?.didComplete(error)
    }
}

// The client's `transfers` table holds every transfer curl is working on, and a transfer is removed
// from it only after curl has returned (see `HTTPClient.abort`), so the callbacks borrow the transfer
// without retaining it: a retain per chunk cost ~3% of a busy relay loop, since a transfer that is
// referenced weakly keeps its count in a side table.
private func transferBodyCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                                  _ userdata: UnsafeMutableRawPointer?) -> Int {
    guard let userdata else { return 0 }
    let length = size * count
    return Unmanaged<HTTPClientTransfer>.fromOpaque(userdata)._withUnsafeGuaranteedRef {
        $0.receivedBody(UnsafeRawBufferPointer(start: data, count: length))
    } ? length : 0
}

private func transferHeaderCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int,
                                    _ userdata: UnsafeMutableRawPointer?) -> Int {
    guard let userdata else { return 0 }
    let length = size * count
    return Unmanaged<HTTPClientTransfer>.fromOpaque(userdata)._withUnsafeGuaranteedRef {
        $0.receivedHeaderLine(UnsafeRawBufferPointer(start: data, count: length))
    } ? length : 0
}
