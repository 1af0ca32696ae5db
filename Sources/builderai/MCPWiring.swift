import Glibc
import MCP
import Net
import Store

/// Connects the MCP manager to the rest: definitions from the mcp-servers directory, a row per
/// server in `mcp_servers`, and every health report written to `mcp_health`.
enum MCPWiring {
    /// How long health samples are kept.
    static let healthRetention: Int64 = 7 * 24 * 3_600_000

    static func start(loops: [EventLoop], store: Store, definitions: [MCPServerDefinition]) throws -> MCPManager {
        let ids = try store.writer.writeAndWait { db -> [String: String] in
            var ids: [String: String] = [:]
            for definition in definitions {
                ids[definition.name] = try upsert(db, definition).id
            }
            _ = try MCPHealthSample.prune(db, olderThan: StoreClock.nowMilliseconds() - healthRetention)
            return ids
        }
        let writer = store.writer
        let manager = MCPManager(loops: loops) { report in
            guard let id = ids[report.server], let status = healthStatus(report.state) else { return }
            do {
                try writer.submit({ db in
                    try MCPHealthSample.record(db, serverID: id, status: status, latencyMs: report.latencyMs,
                                               error: report.error, at: report.at)
                }, completion: { result in
                    if case .failure(let error) = result {
                        Log.warning("could not record an mcp health sample", ["server": report.server, "error": "\(error)"])
                    }
                })
            } catch {
                Log.warning("could not record an mcp health sample", ["server": report.server, "error": "\(error)"])
            }
        }
        for definition in definitions { try manager.add(definition) }
        manager.start()
        if !definitions.isEmpty { Log.info("mcp servers configured", ["count": String(definitions.count)]) }
        return manager
    }

    /// `stopped` is an admin's choice, not a health observation.
    static func healthStatus(_ state: MCPServerState) -> MCPHealthStatus? {
        switch state {
        case .stopped: nil
        case .connecting: .connecting
        case .healthy: .healthy
        case .degraded: .degraded
        case .down: .down
        }
    }

    /// Keeps the table in step with the files. The stored definition leaves out env and header
    /// values: they are often secrets, expanded from our environment.
    static func upsert(_ db: SQLiteConnection, _ definition: MCPServerDefinition) throws -> MCPServerRecord {
        let (transport, summary) = describe(definition)
        if var existing = try MCPServerRecord.find(db, name: definition.name) {
            existing.groupName = definition.group
            existing.transport = transport
            existing.definition = summary
            existing.startAtBoot = definition.startAtBoot
            existing.healthIntervalMs = milliseconds(definition.healthInterval)
            existing.healthTimeoutMs = milliseconds(definition.healthTimeout)
            existing.callTimeoutMs = milliseconds(definition.callTimeout)
            return try MCPServerRecord.update(db, existing) ?? existing
        }
        return try MCPServerRecord.insert(db, name: definition.name, groupName: definition.group, transport: transport,
                                          definition: summary, startAtBoot: definition.startAtBoot,
                                          healthIntervalMs: milliseconds(definition.healthInterval),
                                          healthTimeoutMs: milliseconds(definition.healthTimeout),
                                          callTimeoutMs: milliseconds(definition.callTimeout))
    }

    static func describe(_ definition: MCPServerDefinition) -> (MCPServerTransport, String) {
        switch definition.endpoint {
        case .stdio(let executable, let arguments, let environment, let directory):
            var members: [String: JSONValue] = [
                "command": .string(executable), "args": .array(arguments.map { .string($0) }),
                "envNames": .array(environment.keys.sorted().map { .string($0) }),
            ]
            if let directory { members["cwd"] = .string(directory) }
            return (.stdio, JSONValue.object(members).serializedString)
        case .streamableHTTP(let url, let headers):
            return (.http, JSONValue.object(["url": .string(url), "headerNames": .array(headers.keys.sorted().map { .string($0) })]).serializedString)
        case .sse(let url, let headers):
            return (.sse, JSONValue.object(["url": .string(url), "headerNames": .array(headers.keys.sorted().map { .string($0) })]).serializedString)
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
