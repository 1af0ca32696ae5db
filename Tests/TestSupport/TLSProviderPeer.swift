import Foundation

/// Tests/Peers/fake_openai_h2.py: a fake OpenAI provider served by hypercorn over TLS with HTTP/2,
/// behind a throwaway CA minted at start. Its files (CA, certificate, key, log) live in a temporary
/// directory removed by `stop()`; the process is killed by PID there, and exits by itself if this
/// process dies (its stdin is a pipe only we hold).
public final class TLSProviderPeer: @unchecked Sendable {
    // Invariant: created and stopped by one test; `process` and `stdin` are not shared.
    private let process = Process()
    private let stdin = Pipe()
    private let directory = TemporaryDirectory("builderai-h2-peer")
    public let port: Int
    /// The CA that signed the server certificate: give it to the client to trust the peer.
    public let caPath: String
    /// A CA that signed nothing the peer serves: a client trusting only it must refuse the peer.
    public var otherCAPath: String { directory.path + "/other-ca.pem" }

    /// Starts the peer and waits up to 15 s for its port. `names`: the identities the server
    /// certificate is issued for (default localhost, 127.0.0.1 and ::1); they must include
    /// localhost, the name `recordedRequests` uses.
    public init(names: [String]? = nil) throws {
        precondition(names?.contains("localhost") ?? true, "the certificate must cover localhost")
        process.executableURL = URL(fileURLWithPath: Peers.python)
        process.arguments = ["-u", Peers.script("fake_openai_h2.py"), "--dir", directory.path]
            + (names.map { ["--names"] + $0 } ?? [])
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = stdin
        let log = directory.path + "/peer.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(15)
        while text.split(separator: "\n").count < 2 && Date() < deadline {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard lines.count >= 2, let port = Int(lines[0]) else {
            let errors = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            directory.remove()
            throw PeerError("fake_openai_h2.py did not report a port and CA (got '\(text)'; stderr: \(errors.suffix(2000)))")
        }
        self.port = port
        caPath = lines[1]
    }

    /// The requests the peer saw, oldest first, fetched with the system curl over a connection of
    /// its own: method, path, `http_version` ("2" for HTTP/2), `client_port`, `headers`, `body`.
    public func recordedRequests() throws -> [[String: Any]] {
        let result = try Peers.run("curl", ["-s", "--cacert", caPath, "https://localhost:\(port)/__requests"])
        guard result.status == 0 else { throw PeerError("curl /__requests failed (\(result.status)): \(result.stderr)") }
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] ?? []
    }

    /// Kills the peer by PID (SIGKILL) and removes its files.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        directory.remove()
    }

    deinit { stop() }
}
