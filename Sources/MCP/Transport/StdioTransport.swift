import Net

/// MCP over a child process's pipes: one JSON-RPC message per line on stdin and stdout, the
/// server's stderr copied into our log line by line. The command comes only from an operator's
/// server definition.
public final class StdioTransport: MCPTransport, @unchecked Sendable {
    // Invariant: every stored property is touched only on `loop`; Sendable only to be handed to it.
    public weak var delegate: (any MCPTransportDelegate)?
    public var kind: MCPTransportKind { .stdio }

    private let loop: EventLoop
    private let processOptions: ChildProcessOptions
    private let logName: String
    private var process: ChildProcess?
    /// Requests written and not yet answered: what an exit leaves unanswered.
    private var outstanding: Set<JSONRPCID> = []
    /// Requests whose write failed because the child is dying: failed as not delivered once its
    /// exit says why.
    private var undeliverable: [JSONRPCID] = []
    private var closeRequested = false
    private var closed = false

    public init(loop: EventLoop, process: ChildProcessOptions, logName: String) {
        self.loop = loop
        self.processOptions = process
        self.logName = logName
    }

    /// The child's pid while it runs (tests kill it to simulate a crash).
    public var pid: Int32? { process?.pid }

    public func open() {
        let child = ChildProcess(loop: loop, options: processOptions, delegate: self)
        process = child
        do {
            try child.start()
            Log.info("mcp server process started", ["server": logName, "pid": String(child.pid)])
        } catch {
            process = nil
            let reason = "could not start \(processOptions.executable): \(error)"
            loop.schedule(at: loop.now) { [weak self] in self?.finish(.unavailable(reason)) }
        }
    }

    public func send(_ message: JSONRPCMessage, options: MCPSendOptions) {
        var line = message.serialized()
        line.append(0x0A)
        if case .request(let id, _, _) = message {
            guard let process, !closed else {
                loop.schedule(at: loop.now) { [weak self] in
                    guard let self else { return }
                    delegate?.transport(self, requestFailed: id, .notDelivered("the server process is not running"))
                }
                return
            }
            guard process.write(line) else { return undeliverable.append(id) }
            outstanding.insert(id)
        } else {
            _ = process?.write(line)
        }
    }

    public func abandon(_ id: JSONRPCID) {
        outstanding.remove(id)
        undeliverable.removeAll { $0 == id }
    }

    public func negotiated(version: String, era: MCPEra) {}

    public func close(grace: Duration) {
        guard !closeRequested else { return }
        closeRequested = true
        if let process { process.terminate(grace: grace) } else { loop.schedule(at: loop.now) { [weak self] in self?.finish(nil) } }
    }

    private func finish(_ error: MCPTransportError?) {
        guard !closed else { return }
        closed = true
        let reason = error?.description ?? "the transport was closed"
        for id in undeliverable { delegate?.transport(self, requestFailed: id, .notDelivered(reason)) }
        undeliverable.removeAll()
        for id in outstanding { delegate?.transport(self, requestFailed: id, .mayHaveBeenDelivered(reason)) }
        outstanding.removeAll()
        delegate?.transportDidClose(self, error: closeRequested ? nil : error)
    }
}

extension StdioTransport: ChildProcessDelegate {
    public func childProcess(_ process: ChildProcess, didReadLine line: [UInt8]) {
        guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else { return }
        let messages: [JSONRPCMessage]
        do {
            messages = try JSONRPCMessage.parseAll(line)
        } catch {
            // Some servers print banners to stdout; say so once per line, without the whole line.
            Log.warning("mcp server wrote a line that is not JSON-RPC", ["server": logName, "error": error.description,
                                                                        "line": String(decoding: line.prefix(200), as: UTF8.self)])
            return
        }
        for message in messages {
            if let id = message.id, message.method == nil { outstanding.remove(id) }
            delegate?.transport(self, didReceive: message)
        }
    }

    public func childProcess(_ process: ChildProcess, didReadErrorLine line: String) {
        Log.info("mcp server stderr", ["server": logName, "line": line])
    }

    public func childProcess(_ process: ChildProcess, didFail reason: String) {
        Log.warning("mcp server process broke the stdio protocol", ["server": logName, "reason": reason])
    }

    public func childProcess(_ process: ChildProcess, didExit status: ChildProcess.ExitStatus) {
        let how: String
        switch status {
        case .exited(let code): how = "exited with status \(code)"
        case .signaled(let signal): how = "was killed by signal \(signal)"
        }
        if !closeRequested { Log.warning("mcp server process ended", ["server": logName, "how": how]) }
        finish(.lost("the server process \(how)"))
    }
}
