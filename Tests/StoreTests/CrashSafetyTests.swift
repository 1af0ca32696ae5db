import Foundation
import Testing
import TestSupport
@testable import Store

/// A writer process killed with SIGKILL at a random moment loses no acknowledged write and leaves a
/// database that passes integrity_check.
@Suite struct CrashSafetyTests {
    @Test(arguments: 1...5)
    func everyAcknowledgedWriteSurvivesSIGKILL(round: Int) throws {
        let directory = TemporaryDirectory("builderai-crash")
        defer { directory.remove() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Peers.executable("builderai-bench"))
        process.arguments = ["crash-writer", "--data-dir", directory.path, "--producers", "4"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Let it get going (the store opens and migrates first), then kill it mid-stream.
        var rng = SystemRandomNumberGenerator()
        usleep(UInt32.random(in: 300_000...1_200_000, using: &rng))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // Only whole lines are acknowledgements; a line cut by the kill is not.
        var ids = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        if !text.hasSuffix("\n"), !ids.isEmpty { ids.removeLast() }
        #expect(ids.count > 100, "the writer acknowledged only \(ids.count) writes before the kill")

        let path = Maintenance.databasePath(inDirectory: directory.path)
        #expect(try Maintenance.check(databaseAt: path).isEmpty)
        let db = try SQLiteConnection(path: path)
        try db.execute("CREATE TEMP TABLE acked (id TEXT PRIMARY KEY)")
        try db.transaction {
            for id in ids { try db.run("INSERT OR IGNORE INTO temp.acked (id) VALUES (?)", [id]) }
        }
        let missing = try db.queryOne("SELECT count(*) FROM temp.acked WHERE id NOT IN (SELECT id FROM messages)") { $0.int(0) }
        #expect(missing == 0)
    }
}
