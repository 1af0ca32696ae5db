import CSystem
import Glibc
import Synchronization

/// The protocol spoken over a connection (HTTP, then perhaps WebSocket). Called on the loop thread.
public protocol ConnectionHandler: AnyObject {
    /// Bytes arrived. Returns how many were consumed; the rest is kept and presented again, with more.
    /// The buffer may be modified in place (WebSocket unmasks there).
    func connection(_ connection: Connection, received bytes: UnsafeMutableRawBufferPointer) -> Int
    /// The send queue drained completely after having been blocked.
    func connectionDrained(_ connection: Connection)
    /// The peer closed its side (EOF). The handler decides whether to close.
    func connectionReadEOF(_ connection: Connection)
    /// The connection is gone; release what it held.
    func connectionClosed(_ connection: Connection)
}

/// Counts live connections across every loop and enforces the configured cap.
public final class ConnectionCounter: Sendable {
    private let value = Atomic<Int>(0)
    /// The most connections allowed at once.
    public let limit: Int

    public init(limit: Int) { self.limit = limit }

    /// Takes a slot; false when the cap is reached.
    func acquire() -> Bool {
        let after = value.add(1, ordering: .relaxed).newValue
        if after > limit {
            value.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func release() { value.subtract(1, ordering: .relaxed) }

    /// Live connections right now.
    public var current: Int { value.load(ordering: .relaxed) }
}

/// One TCP connection on one loop: non-blocking reads into the loop's scratch buffer, writes that
/// try the socket at once and queue only what the kernel would not take.
///
/// While input is being processed the connection is "corked": output goes into the loop's scratch
/// buffer and leaves in one `send` when processing ends, so that N pipelined requests or N echoed
/// frames cost one system call. An idle connection owns no buffers at all.
public final class Connection: IOHandler, LoopTeardown {
    /// The socket.
    public let fd: Int32
    /// Process-unique id, for logs.
    public let id: UInt64
    /// The loop that owns this connection; touch it only there.
    // unowned(unsafe): read several times per message, and a checked unowned load is an atomic
    // refcount operation each time. Safe because the loop holds every registered connection and tears
    // them down before it ends (EventLoop.run), so no connection outlives its loop.
    public unowned(unsafe) let loop: EventLoop
    /// The peer's address.
    public let peer: SocketAddress
    /// Current protocol; replaced on upgrade.
    public var handler: (any ConnectionHandler)?

    private var input: [UInt8] = []
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var corked = false
    private var watchingWritable = false
    private var readingPaused = false
    private var closeWhenFlushed = false
    private var lingering = false
    private let counter: ConnectionCounter?
    /// True once the socket is closed; nothing may be written after.
    public private(set) var isClosed = false

    private static let nextID = Atomic<UInt64>(1)

    /// Takes ownership of `fd` and registers it with `loop`.
    public init(fd: Int32, peer: SocketAddress, loop: EventLoop, counter: ConnectionCounter?) throws(SystemError) {
        self.fd = fd
        self.peer = peer
        self.loop = loop
        self.counter = counter
        id = Connection.nextID.add(1, ordering: .relaxed).oldValue
        try loop.register(fd, events: Connection.readEvents, handler: self)
    }

    /// Edge-triggered: a level-triggered epoll re-polls every ready socket on every wait
    /// (tcp_poll and friends were ~5% of the server's time at 100 echo connections).
    private static let readEvents = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue

    /// Bytes accepted by `write` but not yet taken by the kernel.
    public var queuedBytes: Int { output.count - outputOffset }

    // MARK: Reading

    public func handleIO(events: UInt32) {
        if events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 && !readingPaused {
            readAvailable()
        }
        if !isClosed && events & EPOLLOUT.rawValue != 0 {
            flushQueued()
        }
        if !isClosed && events & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 && (readingPaused || lingering) {
            close()
        }
    }

    private func readAvailable() {
        let scratch = loop.readBuffer
        // Edge-triggered: read until a short read (the socket is drained) or EAGAIN. At most a few
        // full reads per wake-up, so one busy peer cannot starve the others; if it may still have
        // bytes, EPOLL_CTL_MOD below re-queues it behind them.
        for _ in 0..<4 {
            let n = csystem_recv(fd, scratch.baseAddress!, scratch.count)
            if n > 0 {
                if !lingering {
                    deliver(UnsafeMutableRawBufferPointer(rebasing: scratch[0..<n]))
                    if isClosed || readingPaused { return }
                }
                if n < scratch.count { return }
            } else if n == 0 {
                if lingering || handler == nil {
                    close()
                } else {
                    handler?.connectionReadEOF(self)
                    if !isClosed { pauseReading() }
                }
                return
            } else {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK { return }
                close()
                return
            }
        }
        if !isClosed && !readingPaused { updateInterest() }
    }

    private func deliver(_ fresh: UnsafeMutableRawBufferPointer) {
        corked = true
        defer { uncork() }
        if input.isEmpty {
            let consumed = process(fresh)
            if !isClosed && consumed < fresh.count {
                input.append(contentsOf: UnsafeRawBufferPointer(rebasing: fresh[consumed...]))
            }
        } else {
            input.append(contentsOf: UnsafeRawBufferPointer(fresh))
            reprocessInput()
        }
    }

    /// Presents buffered input to the handler again, e.g. after an upgrade or after reading resumes.
    private func reprocessInput() {
        guard !input.isEmpty else { return }
        let consumed = input.withUnsafeMutableBytes { process($0) }
        if isClosed { return }
        if consumed >= input.count {
            input = []
        } else if consumed > 0 {
            input.removeFirst(consumed)
        }
    }

    /// Feeds bytes to the handler; if the handler changes (upgrade), the rest goes to the new one.
    private func process(_ bytes: UnsafeMutableRawBufferPointer) -> Int {
        var offset = 0
        while offset < bytes.count, let current = handler, !isClosed {
            let consumed = current.connection(self, received: UnsafeMutableRawBufferPointer(rebasing: bytes[offset...]))
            offset += consumed
            if handler === current || readingPaused { break }
        }
        return offset
    }

    /// Stops reading (the handler is busy with a request); bytes stay in the kernel.
    public func pauseReading() {
        guard !readingPaused, !isClosed else { return }
        readingPaused = true
        updateInterest()
    }

    /// Resumes reading and first re-presents whatever was already buffered. Re-enabling EPOLLIN with
    /// EPOLL_CTL_MOD makes epoll look at the socket again, so bytes that arrived meanwhile are not
    /// lost to edge triggering.
    public func resumeReading() {
        guard readingPaused, !isClosed else { return }
        readingPaused = false
        updateInterest()
        if !input.isEmpty {
            corked = true
            reprocessInput()
            uncork()
        }
    }

    private func updateInterest() {
        var events: UInt32 = readingPaused ? 0 : Connection.readEvents
        if watchingWritable { events |= EPOLLOUT.rawValue }
        loop.modify(fd, events: events)
    }

    // MARK: Writing

    /// Appends to the output: into the loop's scratch while corked, else straight to the socket.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard !isClosed, !bytes.isEmpty else { return }
        if corked && queuedBytes == 0 {
            loop.outputScratch.append(contentsOf: bytes)
        } else if queuedBytes > 0 {
            output.append(contentsOf: bytes)
        } else {
            let sent = sendSome(bytes)
            if sent < bytes.count {
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[sent...]))
                watchWritable()
            }
        }
    }

    /// Writes a header and a payload: one `writev` when nothing is queued, no copy of the payload.
    public func write(_ head: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) {
        guard !isClosed else { return }
        if corked || queuedBytes > 0 || body.count < 1024 {
            write(head)
            write(body)
            return
        }
        var iov = [iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count),
                   iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count)]
        var n: Int
        repeat { n = writev(fd, &iov, 2) } while n < 0 && errno == EINTR
        if n < 0 {
            if errno != EAGAIN && errno != EWOULDBLOCK {
                close()
                return
            }
            n = 0
        }
        if n < head.count {
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: head[n...]))
            output.append(contentsOf: body)
        } else if n - head.count < body.count {
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: body[(n - head.count)...]))
        }
        if queuedBytes > 0 { watchWritable() }
    }

    /// Convenience for byte arrays.
    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Runs `body` with the buffer that output should be appended to right now, so that frame
    /// encoders can write headers and payloads without an intermediate array.
    public func withOutputBuffer(_ body: (inout [UInt8]) -> Void) {
        guard !isClosed else { return }
        if corked && queuedBytes == 0 {
            body(&loop.outputScratch)
        } else if queuedBytes > 0 {
            body(&output)
        } else {
            // Not corked: build the bytes aside and push them out now.
            var pending: [UInt8] = []
            body(&pending)
            write(pending)
        }
    }

    private func uncork() {
        corked = false
        guard !isClosed else {
            loop.outputScratch.removeAll(keepingCapacity: true)
            return
        }
        if !loop.outputScratch.isEmpty {
            // Send straight from the scratch; copying it first would make removeAll reallocate it.
            loop.outputScratch.withUnsafeBytes { bytes in
                if queuedBytes > 0 {
                    output.append(contentsOf: bytes)
                } else {
                    let sent = sendSome(bytes)
                    if sent < bytes.count && !isClosed {
                        output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[sent...]))
                        watchWritable()
                    }
                }
            }
            loop.outputScratch.removeAll(keepingCapacity: true)
        }
        if queuedBytes == 0 && closeWhenFlushed { finishClose() }
    }

    private func sendSome(_ bytes: UnsafeRawBufferPointer) -> Int {
        var offset = 0
        while offset < bytes.count {
            let n = csystem_send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                break
            } else {
                close()
                return bytes.count
            }
        }
        return offset
    }

    private func flushQueued() {
        if queuedBytes > 0 {
            let sent = output.withUnsafeBytes { sendSome(UnsafeRawBufferPointer(rebasing: $0[outputOffset...])) }
            if isClosed { return }
            outputOffset += sent
            if outputOffset < output.count { return }
        }
        output = []
        outputOffset = 0
        if watchingWritable {
            watchingWritable = false
            updateInterest()
        }
        if closeWhenFlushed {
            finishClose()
            return
        }
        handler?.connectionDrained(self)
    }

    private func watchWritable() {
        guard !watchingWritable, !isClosed else { return }
        watchingWritable = true
        updateInterest()
    }

    // MARK: Closing

    /// Closes once everything queued is sent, with a lingering close: our side is shut for writing
    /// and the peer's remaining bytes are drained, so the kernel does not reset the connection and
    /// destroy a response the peer has not read yet.
    public func closeAfterFlush(lingerFor timeout: Duration = .seconds(2)) {
        guard !isClosed, !closeWhenFlushed else { return }
        closeWhenFlushed = true
        if !corked && queuedBytes == 0 { finishClose() }
        loop.schedule(after: timeout) { [weak self] in self?.close() }
    }

    private func finishClose() {
        guard !lingering, !isClosed else { return }
        lingering = true
        handler = nil
        Glibc.shutdown(fd, Int32(SHUT_WR))
        if readingPaused {
            readingPaused = false
            updateInterest()
        }
    }

    /// Closes the socket now. Queued output is dropped.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        loop.deregister(fd)
        Glibc.close(fd)
        counter?.release()
        input = []
        output = []
        let last = handler
        handler = nil
        last?.connectionClosed(self)
    }

    func teardown() { close() }
}
