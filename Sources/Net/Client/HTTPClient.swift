import CCurl
import CSystem
import Glibc

/// An HTTP client for one event loop: libcurl's multi interface driven by the loop's epoll, so
/// thousands of streams share one thread and none gets a thread of its own.
///
/// curl tells us which sockets to watch (`CURLMOPT_SOCKETFUNCTION`) and when it next needs a tick
/// (`CURLMOPT_TIMERFUNCTION`); the loop reports readiness back through `curl_multi_socket_action`.
/// The multi handle keeps curl's connection cache, so sequential requests to one origin reuse a
/// connection and HTTP/2 streams share one. DNS runs in curl's threaded resolver, never on the loop
/// (`resolvesAsynchronously` says whether the libcurl in use has one).
///
/// https:// requests ask for HTTP/2 (ALPN) and wait for a connection being set up to the same origin
/// rather than open another (`CURLOPT_PIPEWAIT`), so concurrent streams to one provider share one
/// TLS connection. Certificates are always verified, against libcurl's default CA bundle or the one
/// given as `caBundlePath`.
///
/// Use it only on its loop: `start`, the delegates and the curl callbacks all run there.
public final class HTTPClient: @unchecked Sendable {
    // Invariant: every stored property except `loop` and `multi` (both immutable) is read and written
    // only on `loop`'s thread; the type is Sendable only so that it can be handed to that loop.

    /// The loop this client lives on.
    public let loop: EventLoop
    /// A PEM file of CA certificates that https:// peers are verified against instead of libcurl's
    /// defaults (`CURLOPT_CAINFO`, with no CA directory): the file is the whole trust store, so to add
    /// a private CA to the public ones, concatenate them. nil keeps the defaults. Verification is
    /// never turned off.
    public let caBundlePath: String?
    let multi: UnsafeMutableRawPointer
    /// Live transfers by easy handle; holding them here keeps the curl callbacks' userdata alive.
    var transfers: [UnsafeMutableRawPointer: HTTPClientTransfer] = [:]
    private var sockets: [Int32: CurlSocket] = [:]
    private var curlTimer: LoopTimer?
    /// True while curl is on the stack: curl refuses add/remove calls made from its own callbacks,
    /// so those wait in `deferred` until `curl_multi_socket_action` returns.
    private var insideCurl = false
    private var deferred: [() -> Void] = []
    private var closed = false

    private static let globalInit: Bool = curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK
    private static let socketTimeout: curl_socket_t = -1  // CURL_SOCKET_TIMEOUT, a macro Swift cannot import

    /// Whether libcurl resolves names off the calling thread (`CURL_VERSION_ASYNCHDNS`: the threaded
    /// resolver or c-ares). Without it a DNS lookup would block the whole event loop; the first
    /// client logs a warning if so.
    public static let resolvesAsynchronously: Bool = {
        // CURLVERSION_NOW is a macro Swift cannot import; `features` is in the first layout already.
        guard let info = curl_version_info(CURLVERSION_FIRST) else { return false }
        let asynchronous = info.pointee.features & CURL_VERSION_ASYNCHDNS != 0
        if !asynchronous {
            Log.warning("libcurl has no asynchronous resolver: DNS lookups for outgoing requests block the event loop")
        }
        return asynchronous
    }()

    /// Creates the client's multi handle. It touches no loop state until the first `start`.
    /// `caBundlePath`: see the property of that name.
    public init(loop: EventLoop, caBundlePath: String? = nil) {
        precondition(HTTPClient.globalInit, "curl_global_init failed")
        _ = HTTPClient.resolvesAsynchronously
        self.loop = loop
        self.caBundlePath = caBundlePath
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed") }
        self.multi = multi
        let me = Unmanaged.passUnretained(self).toOpaque()
        ccurl_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, me)
        ccurl_multi_setopt_socket_callback(multi, curlSocketCallback)
        ccurl_multi_setopt_ptr(multi, CURLMOPT_TIMERDATA, me)
        ccurl_multi_setopt_timer_callback(multi, curlTimerCallback)
        // Keep up to 1,024 idle connections per loop: with curl's default (four per transfer added,
        // shrinking as transfers end) a burst of a thousand streams reconnected, and against a real
        // provider every reconnect is a TLS handshake.
        ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 1024)
    }

    deinit { close() }

    /// Starts a request. Call on the loop. Problems with the request itself are reported through
    /// `didComplete(.invalidRequest)` on a later turn, never from inside this call.
    @discardableResult
    public func start(_ request: HTTPClientRequest, delegate: any HTTPClientDelegate) -> HTTPClientTransfer {
        assert(loop.inLoop, "HTTPClient.start must be called on the client's loop")
        let transfer = HTTPClientTransfer(client: self, delegate: delegate)
        if closed {
            reportLater(transfer, .cancelled)
            return transfer
        }
        if let problem = transfer.configure(request, caBundlePath: caBundlePath) {
            reportLater(transfer, .invalidRequest(problem))
            return transfer
        }
        transfers[transfer.easy] = transfer
        transfer.armStartTimers()
        let add = { [self] in
            guard !transfer.isCompleted else { return }
            let code = curl_multi_add_handle(multi, transfer.easy)
            if code != CURLM_OK { finish(transfer, .invalidRequest(String(cString: curl_multi_strerror(code)))) }
        }
        if insideCurl { deferred.append(add) } else { add() }
        return transfer
    }

    /// Aborts every transfer (each completes with `.cancelled`) and frees the multi handle and its
    /// connection cache. Call on the loop; the client refuses new requests afterwards.
    public func close() {
        if insideCurl {
            deferred.append { [self] in close() }
            return
        }
        guard !closed else { return }
        closed = true
        for transfer in Array(transfers.values) { finish(transfer, .cancelled) }
        if let curlTimer { loop.cancel(curlTimer) }
        curlTimer = nil
        // curl would report each cached connection's socket on the way out; unhook first and
        // deregister them ourselves, because this may run from deinit.
        ccurl_multi_setopt_socket_callback(multi, nil)
        ccurl_multi_setopt_timer_callback(multi, nil)
        for fd in sockets.keys { loop.deregister(fd) }
        sockets.removeAll()
        curl_multi_cleanup(multi)
    }

    // MARK: Driving curl

    func socketAction(_ fd: curl_socket_t, _ flags: Int32) {
        var running: Int32 = 0
        insideCurl = true
        curl_multi_socket_action(multi, fd, flags, &running)
        insideCurl = false
        completeFinishedTransfers()
        while !deferred.isEmpty {
            let actions = deferred
            deferred.removeAll()
            for action in actions { action() }
        }
    }

    private func completeFinishedTransfers() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                  let transfer = transfers[easy] else { continue }
            // Read before `finish`: removing the handle frees the message.
            let error = transfer.error(for: message.pointee.data.result)
            finish(transfer, error)
        }
    }

    /// Removes a transfer from curl and completes it, or, when curl is on the stack, makes its
    /// callbacks refuse further data and does the removal as soon as curl returns.
    func abort(_ transfer: HTTPClientTransfer, _ error: HTTPClientError) {
        guard !transfer.isCompleted, transfer.abortReason == nil else { return }
        if insideCurl {
            transfer.abortReason = error
            deferred.append { [self] in finish(transfer, error) }
        } else {
            finish(transfer, error)
        }
    }

    private func finish(_ transfer: HTTPClientTransfer, _ error: HTTPClientError?) {
        guard !transfer.isCompleted else { return }
        if transfers.removeValue(forKey: transfer.easy) != nil {
            curl_multi_remove_handle(multi, transfer.easy)
        }
        transfer.complete(error)
    }

    private func reportLater(_ transfer: HTTPClientTransfer, _ error: HTTPClientError) {
        loop.schedule(at: loop.now) { transfer.complete(error) }
    }

    fileprivate func watch(_ fd: curl_socket_t, what: Int32, for easy: UnsafeMutableRawPointer?) {
        // curl reports a socket again for every transfer that starts using it (a reused connection
        // included), so each transfer knows its socket.
        if what != CURL_POLL_REMOVE, let easy, let transfer = transfers[easy] { transfer.socket = fd }
        if what & CURL_POLL_IN != 0 { acknowledgeAtOnce(fd) }
        if what == CURL_POLL_REMOVE {
            if sockets.removeValue(forKey: fd) != nil { loop.deregister(fd) }
            return
        }
        // Level-triggered on purpose: curl reads only what it needs and expects to be told again.
        var events: UInt32 = 0
        if what & CURL_POLL_IN != 0 { events |= EPOLLIN.rawValue }
        if what & CURL_POLL_OUT != 0 { events |= EPOLLOUT.rawValue }
        if sockets[fd] != nil {
            loop.modify(fd, events: events)
            return
        }
        let watcher = CurlSocket(fd: fd, client: self)
        do {
            try loop.register(fd, events: events, handler: watcher)
            sockets[fd] = watcher
        } catch {
            Log.error("http client could not watch a socket", ["error": error.description])
        }
    }

    /// curl asks to read once a request is sent, which is when the response must not wait for our
    /// ACKs. Right after we send, Linux delays its ACKs (ping-pong mode), and a server that writes a
    /// response's head and body apart without TCP_NODELAY (uvicorn, under the official MCP SDK's HTTP
    /// servers and many OpenAI-compatible ones) holds the body under Nagle until the head is
    /// acknowledged: 44 ms per exchange. TCP_QUICKACK=1 leaves ping-pong mode, so the head is
    /// acknowledged as soon as it is read, and sends at once an ACK still pending if curl already
    /// read the head before asking. One system call when a transfer starts reading, none per chunk.
    private func acknowledgeAtOnce(_ fd: curl_socket_t) {
        var on: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &on, socklen_t(MemoryLayout<Int32>.size))
    }

    fileprivate func armTimer(_ milliseconds: Int) {
        guard milliseconds >= 0 else {
            if let curlTimer { loop.cancel(curlTimer) }
            curlTimer = nil
            return
        }
        // A zero timeout lands on this loop turn's timer pass, after curl has returned: curl must
        // not be re-entered from its own callback.
        let deadline = loop.now &+ UInt64(milliseconds) &* 1_000_000
        if let curlTimer, curlTimer.isScheduled {
            loop.reschedule(curlTimer, at: deadline)
        } else {
            curlTimer = loop.schedule(at: deadline) { [unowned self] in
                curlTimer = nil
                socketAction(HTTPClient.socketTimeout, 0)
            }
        }
    }
}

/// One socket curl asked us to watch; readiness goes straight back to curl.
private final class CurlSocket: IOHandler {
    let fd: curl_socket_t
    unowned let client: HTTPClient

    init(fd: curl_socket_t, client: HTTPClient) {
        self.fd = fd
        self.client = client
    }

    func handleIO(events: UInt32) {
        var flags: Int32 = 0
        if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 { flags |= CURL_CSELECT_IN }
        if events & EPOLLOUT.rawValue != 0 { flags |= CURL_CSELECT_OUT }
        if events & EPOLLERR.rawValue != 0 { flags |= CURL_CSELECT_ERR }
        client.socketAction(fd, flags)
    }
}

private func curlSocketCallback(_ easy: UnsafeMutableRawPointer?, _ fd: curl_socket_t, _ what: Int32,
                                _ userp: UnsafeMutableRawPointer?, _ socketp: UnsafeMutableRawPointer?) -> Int32 {
    guard let userp else { return -1 }
    Unmanaged<HTTPClient>.fromOpaque(userp).takeUnretainedValue().watch(fd, what: what, for: easy)
    return 0
}

private func curlTimerCallback(_ multi: UnsafeMutableRawPointer?, _ milliseconds: Int, _ userp: UnsafeMutableRawPointer?) -> Int32 {
    guard let userp else { return -1 }
    Unmanaged<HTTPClient>.fromOpaque(userp).takeUnretainedValue().armTimer(milliseconds)
    return 0
}
