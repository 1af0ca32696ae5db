import Foundation

/// Runs the test peers that nobody on this project wrote: the Python `websockets` client from the
/// pinned venv and the system `curl`.
public enum Peers {
    public static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where the package's executables were built: next to the running test bundle.
    public static func executable(_ name: String) -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// The venv's python: BUILDERAI_TEST_PYTHON (set by `make test`), else .venv in the package.
    public static var python: String {
        ProcessInfo.processInfo.environment["BUILDERAI_TEST_PYTHON"]
            ?? packageRoot.appendingPathComponent(".venv/bin/python").path
    }

    public static func script(_ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/Peers/\(name)").path
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs a program to completion (killing it after `timeout` seconds) and captures its output.
    public static func run(_ executable: String, _ arguments: [String], timeout: Double = 60, input: String? = nil) throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: executable) || !executable.hasPrefix("/") else {
            throw PeerError("\(executable) is missing: run `make test`, which installs the test peers")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = input.map { _ in Pipe() }
        if let stdin { process.standardInput = stdin }
        try process.run()
        if let stdin, let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let deadline = Date().addingTimeInterval(timeout)
        // Read concurrently so a chatty peer cannot block on a full pipe.
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            group.wait()
            throw PeerError("\(executable) \(arguments.joined(separator: " ")) timed out; stderr: \(String(decoding: errData, as: UTF8.self))")
        }
        process.waitUntilExit()
        group.wait()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}

public struct PeerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
