import API
import Chat
import CSystem
import Dispatch
import Glibc
import LLM
import MCP
import Net
import Store
import WebClient

/// builderai: reads configuration, wires the modules together, and runs a command.
let usage = """
Usage: builderai <command> [options]

Commands:
  serve               start the server (see 'builderai serve --help')
  migrate             apply pending database migrations and exit
  db backup PATH      copy the live database to PATH (safe while the server runs)
  db check            run SQLite's integrity and foreign key checks
  mcp check           start every MCP server defined, list its tools, and report its state
  user create --email E --name N [--admin] [--password-stdin]
                      add an account (password read from standard input); prints its id
  token create --email E [--name LABEL]
                      make a personal API token for an account; prints it once
  project create --email E --name N [--model PROVIDER/MODEL] [--mcp GROUP,...]
                      make a project owned by the account; prints its id
  version             print the version

The database commands take --data-dir DIR (BUILDERAI_DATA_DIR, default ./data).

Run 'builderai serve' with no options for the embedded defaults: 127.0.0.1:8080.
"""

let version = "0.1.0"

func environment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let eq = text.firstIndex(of: "=") {
            result[String(text[..<eq])] = String(text[text.index(after: eq)...])
        }
        pointer += 1
    }
    return result
}

func fail(_ message: String, code: Int32) -> Never {
    let line = Array("builderai: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

/// Blocks SIGINT/SIGTERM in every thread (loops inherit the mask) and returns a signalfd for them,
/// so the main thread can wait for a shutdown request with a plain read.
func shutdownSignals() -> Int32 {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_BLOCK, &set, nil)
    signal(SIGPIPE, SIG_IGN)
    return signalfd(-1, &set, Int32(SFD_CLOEXEC))
}

func serve(_ arguments: [String]) -> Never {
    let options: ServeOptions
    do {
        options = try ServeOptions.parse(arguments, environment: environment())
    } catch let error {
        if error.message.isEmpty {
            print(ServeOptions.help)
            exit(0)
        }
        fail("\(error.message)\nRun 'builderai serve --help' for the options.", code: 64)
    }
    Log.level = options.logLevel
    let mcpDefinitions: [MCPServerDefinition]
    do {
        mcpDefinitions = try MCPServerDefinition.load(directory: options.mcpServers, environment: environment())
    } catch {
        fail("invalid MCP server definition: \(error)", code: 78)
    }
    let providers: ProviderRegistry
    do {
        providers = try ProviderRegistry.fromEnvironment(environment())
    } catch {
        fail("invalid LLM provider configuration: \(error)", code: 78)
    }
    let prompts: PromptLibrary
    do {
        prompts = try PromptLibrary(directory: options.prompts)
    } catch {
        fail("invalid prompt template: \(error)", code: 78)
    }
    // Before any thread starts, so that every thread inherits the blocked mask.
    let signals = shutdownSignals()
    Socket.raiseOpenFileLimit()
    let loopCount = options.loops > 0 ? options.loops : HTTPServerConfiguration().loopCount
    let store: Store
    do {
        store = try Store(directory: options.dataDir, durability: options.durability, loopCount: loopCount)
    } catch {
        fail("cannot open the database in \(options.dataDir): \(error)", code: 70)
    }

    var configuration = HTTPServerConfiguration()
    configuration.host = options.host
    configuration.port = options.port
    configuration.loopCount = loopCount
    configuration.maxConnections = options.maxConnections
    configuration.busyPoll = .microseconds(options.busyPollMicroseconds)

    var router = Router()
    HealthRoutes.register(on: &router, version: version)
    if options.echoEndpoint { router.webSocket("/ws/echo", EchoWebSocket.route) }
    let chatEndpoint = ChatEndpoint()
    router.webSocket(ChatProtocol.path, chatEndpoint.route)
    var apiConfiguration = APIConfiguration(jwtKey: jwtKey(dataDir: options.dataDir))
    apiConfiguration.version = version
    apiConfiguration.passwordIterations = options.passwordIterations
    apiConfiguration.corsOrigins = options.corsOrigins
    apiConfiguration.rateLimit.ratePerSecond = Double(options.rateLimit)
    apiConfiguration.rateLimit.burst = Double(options.rateLimit * 2)
    apiConfiguration.issueChatTicket = { userID in chatEndpoint.issueTicket(userID: userID) ?? "" }
    let mcpAdmin = MCPAdmin(store: store, environment: environment())
    apiConfiguration.mcp = mcpAdmin
    let api = APIService(store: store, configuration: apiConfiguration)
    api.register(on: &router)
    WebClient.register(on: &router)

    let serverMetrics = ServerMetrics()
    let server: HTTPServer
    do {
        server = try HTTPServer(configuration: configuration, router: router, metrics: serverMetrics)
    } catch let error {
        if error.code == EADDRINUSE {
            fail("port \(options.port) on \(options.host) is already in use; choose another with --port", code: 69)
        }
        if error.code == EADDRNOTAVAIL || error.code == EACCES || error.code == EINVAL {
            fail("cannot listen on \(options.host):\(options.port): \(error)", code: 69)
        }
        fail("cannot start: \(error)", code: 70)
    }
    let mcp: MCPManager
    do {
        mcp = try MCPWiring.start(loops: server.loops, store: store, definitions: mcpDefinitions)
    } catch {
        fail("cannot start the MCP manager: \(error)", code: 70)
    }
    let chat: ChatService
    do {
        var chatConfiguration = ChatConfiguration()
        chatConfiguration.maxSteps = options.maxSteps
        chatConfiguration.idleUnload = .seconds(options.idleUnloadSeconds)
        chat = try ChatService(loops: server.loops, store: store, providers: providers, mcp: mcp, prompts: prompts,
                               configuration: chatConfiguration, version: version)
    } catch {
        fail("cannot start the chat engine: \(error)", code: 70)
    }
    chatEndpoint.attach(chat)
    mcpAdmin.attach(mcp)
    mcpAdmin.registerMetrics()
    registerProcessMetrics(server: serverMetrics, store: store)
    Metrics.shared.gauge("builderai_connections_open", "Open TCP connections") { [([], Double(server.connectionCount))] }
    Log.info("listening", ["address": "\(options.host):\(server.port)", "loops": String(server.loops.count),
                           "version": version, "database": store.path])

    var info = signalfd_siginfo()
    while read(signals, &info, MemoryLayout<signalfd_siginfo>.size) < 0 && errno == EINTR {}
    Log.info("shutting down", ["signal": info.ssi_signo == UInt32(SIGINT) ? "SIGINT" : "SIGTERM"])
    // MCP first: its children must be ended while the loops that watch them still run.
    chat.shutdown()
    waitFor { await mcp.shutdown(grace: .seconds(2)) }
    server.shutdown()
    store.close()
    Log.info("stopped")
    exit(0)
}

func databaseOptions(_ arguments: [String]) -> DatabaseOptions {
    do {
        return try DatabaseOptions.parse(arguments, environment: environment())
    } catch let error {
        if error.message.isEmpty {
            print(usage)
            exit(0)
        }
        fail(error.message, code: 64)
    }
}

func migrate(_ arguments: [String]) -> Never {
    let options = databaseOptions(arguments)
    guard options.positional.isEmpty else { fail("migrate takes no arguments", code: 64) }
    do {
        try Store.createDirectory(options.dataDir)
        let db = try SQLiteConnection(path: Maintenance.databasePath(inDirectory: options.dataDir))
        let (from, to) = try Migrator.migrate(db)
        print(from == to ? "database is at schema version \(to); nothing to do" : "migrated from schema version \(from) to \(to)")
        exit(0)
    } catch {
        fail("migration failed: \(error)", code: 70)
    }
}

func database(_ arguments: [String]) -> Never {
    var arguments = arguments
    let sub = arguments.isEmpty ? "" : arguments.removeFirst()
    let options = databaseOptions(arguments)
    let path = Maintenance.databasePath(inDirectory: options.dataDir)
    switch sub {
    case "backup":
        guard options.positional.count == 1 else { fail("usage: builderai db backup PATH", code: 64) }
        guard access(path, F_OK) == 0 else { fail("no database at \(path)", code: 66) }
        do {
            try Maintenance.backup(databaseAt: path, to: options.positional[0])
            print("backed up \(path) to \(options.positional[0])")
            exit(0)
        } catch {
            fail("backup failed: \(error)", code: 70)
        }
    case "check":
        guard options.positional.isEmpty else { fail("usage: builderai db check", code: 64) }
        guard access(path, F_OK) == 0 else { fail("no database at \(path)", code: 66) }
        do {
            let problems = try Maintenance.check(databaseAt: path)
            if problems.isEmpty {
                print("ok")
                exit(0)
            }
            for problem in problems { print(problem) }
            exit(1)
        } catch {
            fail("check failed: \(error)", code: 70)
        }
    default:
        fail("unknown database command '\(sub)'; use 'db backup PATH' or 'db check'", code: 64)
    }
}

/// Connections, WebSocket traffic and the database writer, read at scrape time.
func registerProcessMetrics(server: ServerMetrics, store: Store) {
    let metrics = Metrics.shared
    metrics.gauge("builderai_connections_accepted_total", "TCP connections accepted") {
        [([], Double(server.accepted.load(ordering: .relaxed)))]
    }
    metrics.gauge("builderai_connections_refused_total", "Connections answered 503 over the connection cap") {
        [([], Double(server.refused.load(ordering: .relaxed)))]
    }
    metrics.gauge("builderai_websocket_messages_received_total", "WebSocket messages received, all endpoints") {
        [([], Double(server.webSocketMessagesIn.load(ordering: .relaxed)))]
    }
    metrics.gauge("builderai_http_responses_total", "HTTP responses by class, all routes") {
        [([("class", "2xx")], Double(server.responses2xx.load(ordering: .relaxed))),
         ([("class", "4xx")], Double(server.responses4xx.load(ordering: .relaxed))),
         ([("class", "5xx")], Double(server.responses5xx.load(ordering: .relaxed)))]
    }
    metrics.gauge("builderai_db_write_queue_depth", "Writes waiting for the writer thread") {
        [([], Double(store.writer.queueDepth))]
    }
    metrics.gauge("builderai_db_commits_total", "Group commits") { [([], Double(store.writer.commits))] }
    metrics.gauge("builderai_db_writes_total", "Writes committed") { [([], Double(store.writer.committedWrites))] }
    metrics.gauge("builderai_db_last_commit_seconds", "Duration of the latest COMMIT") {
        [([], Double(store.writer.lastCommitNanoseconds) / 1e9)]
    }
    metrics.gauge("builderai_db_slow_batches_total", "Write batches that took 50 ms or more from BEGIN to the end of COMMIT") {
        [([], Double(store.writer.slowBatches))]
    }
    metrics.gauge("builderai_db_longest_batch_seconds", "The longest write batch since start, BEGIN to the end of COMMIT") {
        [([], Double(store.writer.longestBatchNanoseconds) / 1e9)]
    }
    metrics.gauge("builderai_db_writer_checkpoints_total",
                  "Checkpoints the writer ran between batches so the WAL could start over") {
        [([], Double(store.writer.checkpointing.writerCheckpoints))]
    }
    metrics.gauge("builderai_db_longest_writer_checkpoint_seconds",
                  "The longest of them since start: no write batch runs meanwhile") {
        [([], Double(store.writer.checkpointing.longestWriterCheckpointNanoseconds) / 1e9)]
    }
}

/// The HS256 key for access tokens: BUILDERAI_JWT_SECRET when set (32+ bytes), else a random key kept
/// in DATA_DIR/jwt.key (mode 0600), so tokens survive restarts.
func jwtKey(dataDir: String) -> [UInt8] {
    if let secret = environment()["BUILDERAI_JWT_SECRET"] {
        guard secret.utf8.count >= 32 else { fail("BUILDERAI_JWT_SECRET must be at least 32 bytes", code: 64) }
        return Array(secret.utf8)
    }
    let path = dataDir + "/jwt.key"
    if let file = fopen(path, "rb") {
        defer { fclose(file) }
        var key = [UInt8](repeating: 0, count: 64)
        let count = fread(&key, 1, 64, file)
        if count >= 32 { return Array(key[0..<count]) }
    }
    var key = [UInt8](repeating: 0, count: 32)
    let random = open("/dev/urandom", O_RDONLY)
    guard random >= 0, read(random, &key, 32) == 32 else { fail("cannot read /dev/urandom", code: 70) }
    close(random)
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0, write(fd, key, 32) == 32 else { fail("cannot write \(path)", code: 70) }
    close(fd)
    return key
}

/// Runs async work from the main thread (which is not part of the concurrency pool) and waits.
func waitFor(_ work: @escaping @Sendable () async -> Void) {
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        await work()
        done.signal()
    }
    done.wait()
}

MemoryTuning.apply()
var arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.isEmpty ? "serve" : arguments.removeFirst()
switch command {
case "serve": serve(arguments)
case "migrate": migrate(arguments)
case "db": database(arguments)
case "mcp": mcpCommand(arguments)
case "user", "token", "project": accountCommand(command, arguments)
case "version", "--version": print("builderai \(version)")
case "-h", "--help", "help": print(usage)
default: fail("unknown command '\(command)'\n\(usage)", code: 64)
}
