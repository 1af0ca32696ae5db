import Dispatch
import Glibc
import MCP
import Net

/// `builderai mcp check`: starts every defined MCP server (or the ones named), waits until each
/// is up or has failed, and prints one JSON line per server. Exit 0 when all are healthy, 1 when
/// any is not, 64 for bad usage, 78 for an invalid definition.
func mcpCommand(_ arguments: [String]) -> Never {
    guard arguments.first == "check" else {
        fail("usage: builderai mcp check [--mcp-servers DIR] [--timeout SECONDS] [NAME...]", code: 64)
    }
    var directory = environment()["BUILDERAI_MCP_SERVERS"] ?? "mcp-servers"
    var timeout: Double?
    var names: [String] = []
    var index = 1
    while index < arguments.count {
        let argument = arguments[index]
        switch argument {
        case "--mcp-servers":
            index += 1
            guard index < arguments.count else { fail("--mcp-servers needs a directory", code: 64) }
            directory = arguments[index]
        case "--timeout":
            index += 1
            guard index < arguments.count, let seconds = Double(arguments[index]), seconds > 0 else {
                fail("--timeout needs a positive number of seconds", code: 64)
            }
            timeout = seconds
        case "-h", "--help":
            print("usage: builderai mcp check [--mcp-servers DIR] [--timeout SECONDS] [NAME...]")
            exit(0)
        default:
            guard !argument.hasPrefix("-") else { fail("unknown option '\(argument)'", code: 64) }
            names.append(argument)
        }
        index += 1
    }
    var definitions: [MCPServerDefinition]
    do {
        definitions = try MCPServerDefinition.load(directory: directory, environment: environment())
    } catch {
        fail("invalid MCP server definition: \(error)", code: 78)
    }
    if !names.isEmpty {
        let unknown = names.filter { name in !definitions.contains { $0.name == name } }
        guard unknown.isEmpty else { fail("no server named \(unknown.joined(separator: ", ")) in \(directory)", code: 64) }
        definitions = definitions.filter { names.contains($0.name) }
    }
    guard !definitions.isEmpty else { fail("no MCP servers defined in \(directory)", code: 66) }

    Log.level = .error
    signal(SIGPIPE, SIG_IGN)
    let group: EventLoopGroup
    do {
        group = try EventLoopGroup(loopCount: 1)
        try group.start()
    } catch {
        fail("cannot start an event loop: \(error)", code: 70)
    }
    let manager = MCPManager(loops: group.loops)
    for var definition in definitions {
        definition.startAtBoot = true   // a check starts every server it is asked about
        do { try manager.add(definition) } catch { fail("\(error)", code: 78) }
    }
    manager.start()

    let limit = timeout ?? definitions.map { Double($0.initializeTimeout.components.seconds) }.max()! + 5
    let deadline = DispatchTime.now() + limit
    var settled: [String: MCPServerStatus] = [:]
    while settled.count < definitions.count, DispatchTime.now() < deadline {
        for status in manager.servers() where settled[status.name] == nil {
            if status.state == .healthy || status.state == .degraded || status.state == .down { settled[status.name] = status }
        }
        usleep(50_000)
    }
    var allHealthy = true
    for definition in definitions {
        let status = settled[definition.name] ?? manager.server(definition.name)
        let state = status?.state ?? .stopped
        if state != .healthy { allHealthy = false }
        var line: [String: JSONValue] = [
            "server": .string(definition.name), "group": .string(definition.group),
            "transport": .string(definition.transportKind.rawValue), "state": .string(state.rawValue),
            "tools": .array((status?.tools ?? []).map { .string($0.name) }),
        ]
        if let version = status?.protocolVersion { line["protocolVersion"] = .string(version) }
        if let era = status?.era { line["era"] = .string(era.rawValue) }
        if let error = status?.lastError { line["error"] = .string(error) }
        if settled[definition.name] == nil { line["error"] = .string("no answer within \(Int(limit)) s") }
        print(JSONValue.object(line).serializedString)
    }
    waitFor { await manager.shutdown(grace: .seconds(1)) }
    group.shutdown()
    exit(allHealthy ? 0 : 1)
}
