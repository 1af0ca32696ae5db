import Net
import Store

/// Settings for `builderai serve`, from flags over environment over built-in defaults.
struct ServeOptions {
    var host = "127.0.0.1"
    var port = 8080
    var loops = 0
    var dataDir = "data"
    var maxConnections = 100_000
    var logLevel = Log.Level.info
    var echoEndpoint = true
    var busyPollMicroseconds = 0
    var durability = Durability.normal
    var mcpServers = "mcp-servers"
    var prompts = "prompts"
    var maxSteps = 8
    var passwordIterations = 600_000
    var rateLimit = 50
    var idleUnloadSeconds = 60
    var corsOrigins: Set<String> = []

    static let help = """
    Usage: builderai serve [options]

    Starts the BuilderAI server: HTTP/1.1 and WebSocket on one port.

    Options (each also read from the environment variable shown):
      --host HOST             address to bind (BUILDERAI_HOST, default 127.0.0.1)
      --port PORT             TCP port, 0 picks a free one (BUILDERAI_PORT, default 8080)
      --loops N               event loop threads (BUILDERAI_LOOPS, default: number of cores)
      --data-dir DIR          where the database and files live (BUILDERAI_DATA_DIR, default ./data)
      --max-connections N     connections beyond this get 503 (BUILDERAI_MAX_CONNECTIONS, default 100000)
      --log-level LEVEL       debug, info, warning or error (BUILDERAI_LOG_LEVEL, default info)
      --durability MODE       normal (survives a crash) or full (also power loss) (BUILDERAI_DURABILITY)
      --busy-poll-us N        spin this long for more events before sleeping (BUILDERAI_BUSY_POLL_US, default 0)
      --no-echo               disable the /ws/echo endpoint (BUILDERAI_ECHO=0)
      --mcp-servers DIR       MCP server definitions, every *.json file in DIR
                              (BUILDERAI_MCP_SERVERS, default ./mcp-servers; a missing DIR means none)
      --prompts DIR           system prompt templates, every *.txt in DIR (BUILDERAI_PROMPTS, default ./prompts;
                              a missing DIR means the built-in default only)
      --idle-unload-seconds N a conversation nobody watches and nothing runs in leaves memory after N s
                              (BUILDERAI_IDLE_UNLOAD_SECONDS, default 60)
      --max-steps N           LLM calls one answer may make in its tool loop (BUILDERAI_MAX_STEPS, default 8)
      --cors-origin ORIGIN    allow browser calls to the REST API from ORIGIN (repeatable;
                              BUILDERAI_CORS_ORIGINS, comma-separated; default none)
      --rate-limit N          REST requests per second per token (or IP), burst 2N (BUILDERAI_RATE_LIMIT, default 50)
      --password-iterations N PBKDF2 iterations for new passwords (BUILDERAI_PASSWORD_ITERATIONS,
                              default and minimum outside tests 600000)
      -h, --help              show this help

    The REST API's token key comes from BUILDERAI_JWT_SECRET (32+ bytes), else DATA_DIR/jwt.key.

    LLM providers come from OPENAI_API_KEY/OPENAI_BASE_URL, ANTHROPIC_API_KEY, GEMINI_API_KEY, OLLAMA_HOST,
    BUILDERAI_DEFAULT_MODEL and BUILDERAI_MODEL_CHAIN; with none, the offline provider answers.

    Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 64 for a bad flag or value,
    69 when the address cannot be bound (for example the port is in use), 70 for other failures,
    78 for invalid configuration (an MCP server definition, LLM provider settings, a prompt template).
    """

    /// Parses flags after `serve`, starting from the environment.
    static func parse(_ arguments: [String], environment: [String: String]) throws(UsageError) -> ServeOptions {
        var options = ServeOptions()
        func value(_ name: String, _ raw: String) throws(UsageError) -> Int {
            guard let n = Int(raw), n >= 0 else { throw UsageError("\(name) expects a non-negative integer, got '\(raw)'") }
            return n
        }
        if let v = environment["BUILDERAI_HOST"] { options.host = v }
        if let v = environment["BUILDERAI_PORT"] { options.port = try value("BUILDERAI_PORT", v) }
        if let v = environment["BUILDERAI_LOOPS"] { options.loops = try value("BUILDERAI_LOOPS", v) }
        if let v = environment["BUILDERAI_DATA_DIR"] { options.dataDir = v }
        if let v = environment["BUILDERAI_MAX_CONNECTIONS"] { options.maxConnections = try value("BUILDERAI_MAX_CONNECTIONS", v) }
        if let v = environment["BUILDERAI_LOG_LEVEL"] {
            guard let level = Log.Level(name: v) else { throw UsageError("BUILDERAI_LOG_LEVEL must be debug, info, warning or error, got '\(v)'") }
            options.logLevel = level
        }
        if environment["BUILDERAI_ECHO"] == "0" { options.echoEndpoint = false }
        if let v = environment["BUILDERAI_DURABILITY"] {
            guard let mode = Durability(rawValue: v) else { throw UsageError("BUILDERAI_DURABILITY must be normal or full, got '\(v)'") }
            options.durability = mode
        }
        if let v = environment["BUILDERAI_BUSY_POLL_US"] { options.busyPollMicroseconds = try value("BUILDERAI_BUSY_POLL_US", v) }
        if let v = environment["BUILDERAI_MCP_SERVERS"] { options.mcpServers = v }
        if let v = environment["BUILDERAI_PROMPTS"] { options.prompts = v }
        if let v = environment["BUILDERAI_CORS_ORIGINS"] { options.corsOrigins = Set(v.split(separator: ",").map(String.init)) }
        if let v = environment["BUILDERAI_IDLE_UNLOAD_SECONDS"] { options.idleUnloadSeconds = try value("BUILDERAI_IDLE_UNLOAD_SECONDS", v) }
        if let v = environment["BUILDERAI_RATE_LIMIT"] { options.rateLimit = try value("BUILDERAI_RATE_LIMIT", v) }
        if let v = environment["BUILDERAI_PASSWORD_ITERATIONS"] { options.passwordIterations = try value("BUILDERAI_PASSWORD_ITERATIONS", v) }
        if let v = environment["BUILDERAI_MAX_STEPS"] { options.maxSteps = try value("BUILDERAI_MAX_STEPS", v) }

        var index = 0
        func next(_ flag: String) throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else { throw UsageError("\(flag) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            var flag = arguments[index]
            var inline: String?
            if flag.hasPrefix("--"), let eq = flag.firstIndex(of: "=") {
                inline = String(flag[flag.index(after: eq)...])
                flag = String(flag[..<eq])
            }
            func argument() throws(UsageError) -> String {
                if let inline { return inline }
                return try next(flag)
            }
            switch flag {
            case "--host": options.host = try argument()
            case "--port": options.port = try value("--port", try argument())
            case "--loops": options.loops = try value("--loops", try argument())
            case "--data-dir": options.dataDir = try argument()
            case "--max-connections": options.maxConnections = try value("--max-connections", try argument())
            case "--log-level":
                let raw = try argument()
                guard let level = Log.Level(name: raw) else { throw UsageError("--log-level must be debug, info, warning or error, got '\(raw)'") }
                options.logLevel = level
            case "--no-echo": options.echoEndpoint = false
            case "--durability":
                let raw = try argument()
                guard let mode = Durability(rawValue: raw) else { throw UsageError("--durability must be normal or full, got '\(raw)'") }
                options.durability = mode
            case "--busy-poll-us": options.busyPollMicroseconds = try value("--busy-poll-us", try argument())
            case "--mcp-servers": options.mcpServers = try argument()
            case "--prompts": options.prompts = try argument()
            case "--cors-origin": options.corsOrigins.insert(try argument())
            case "--idle-unload-seconds": options.idleUnloadSeconds = try value("--idle-unload-seconds", try argument())
            case "--rate-limit": options.rateLimit = try value("--rate-limit", try argument())
            case "--password-iterations": options.passwordIterations = try value("--password-iterations", try argument())
            case "--max-steps": options.maxSteps = try value("--max-steps", try argument())
            case "-h", "--help": throw UsageError.helpRequested
            default: throw UsageError("unknown option '\(arguments[index])'")
            }
            index += 1
        }
        guard options.port <= 65535 else { throw UsageError("--port must be 0...65535, got \(options.port)") }
        guard options.maxConnections > 0 else { throw UsageError("--max-connections must be at least 1") }
        guard options.idleUnloadSeconds >= 1 else { throw UsageError("--idle-unload-seconds must be at least 1") }
        guard options.rateLimit >= 1 else { throw UsageError("--rate-limit must be at least 1") }
        guard options.passwordIterations >= 1000 else { throw UsageError("--password-iterations must be at least 1000") }
        guard (1...1000).contains(options.maxSteps) else { throw UsageError("--max-steps must be 1...1000, got \(options.maxSteps)") }
        guard options.loops <= 256 else { throw UsageError("--loops must be at most 256") }
        return options
    }
}

/// A command line the binary cannot act on; the message says why.
struct UsageError: Error {
    let message: String
    init(_ message: String) { self.message = message }
    static let helpRequested = UsageError("")
}

/// Options of the database commands: where the data directory is.
struct DatabaseOptions {
    var dataDir = "data"
    var positional: [String] = []

    static func parse(_ arguments: [String], environment: [String: String]) throws(UsageError) -> DatabaseOptions {
        var options = DatabaseOptions()
        if let v = environment["BUILDERAI_DATA_DIR"] { options.dataDir = v }
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--data-dir" {
                index += 1
                guard index < arguments.count else { throw UsageError("--data-dir needs a value") }
                options.dataDir = arguments[index]
            } else if argument.hasPrefix("--data-dir=") {
                options.dataDir = String(argument.dropFirst("--data-dir=".count))
            } else if argument == "-h" || argument == "--help" {
                throw UsageError.helpRequested
            } else if argument.hasPrefix("-") {
                throw UsageError("unknown option '\(argument)'")
            } else {
                options.positional.append(argument)
            }
            index += 1
        }
        return options
    }
}
