import Foundation

/// A long-running test peer (a fake provider, a stream server): started with the venv's python,
/// reports its port on the first line of stdout, and is terminated by PID in `stop()`.
public final class PeerServer: @unchecked Sendable {
    // Invariant: created and stopped by one test; `process` is not shared.
    private let process = Process()
    public let port: Int

    /// Starts `Tests/Peers/<script>` and waits up to 10 s for its port.
    public init(script: String, arguments: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: Peers.python)
        process.arguments = [Peers.script(script)] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = ""
        let deadline = Date().addingTimeInterval(10)
        while !line.contains("\n") && Date() < deadline {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            line += String(decoding: data, as: UTF8.self)
        }
        guard let port = Int(line.split(separator: "\n").first?.trimmingCharacters(in: .whitespaces) ?? "") else {
            process.terminate()
            throw PeerError("\(script) did not report a port (got '\(line)')")
        }
        self.port = port
    }

    /// The requests the fake recorded (GET /__requests), as parsed JSON.
    public func recordedRequests() throws -> [[String: Any]] {
        let result = try Peers.run("curl", ["-s", "http://127.0.0.1:\(port)/__requests"])
        let parsed = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        return parsed as? [[String: Any]] ?? []
    }

    /// Kills the peer by PID (SIGKILL: a fake stuck in a stalled stream must not hold a test up).
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}
