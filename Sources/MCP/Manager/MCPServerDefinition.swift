import Glibc
import Net

/// One MCP server as an operator defines it: the `mcpServers` entry that MCP clients already use
/// (`command`/`args`/`env` or `url`/`headers`), plus what a fleet needs (group, health checks,
/// timeouts, start at boot). See mcp-servers/README.md for the format with examples.
public struct MCPServerDefinition: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        /// `executable` is a PATH name or an absolute path; `environment` is the child's whole environment.
        case stdio(executable: String, arguments: [String], environment: [String: String], workingDirectory: String?)
        case streamableHTTP(url: String, headers: [String: String])
        case sse(url: String, headers: [String: String])
    }

    public var name: String
    /// Replicas that serve the same tools share a group; a server alone is its own group.
    public var group: String
    public var endpoint: Endpoint
    public var healthInterval: Duration = .seconds(15)
    public var healthTimeout: Duration = .seconds(5)
    public var callTimeout: Duration = .seconds(60)
    public var initializeTimeout: Duration = .seconds(15)
    public var startAtBoot: Bool = true
    /// A revision to use instead of negotiating (see `MCPConnectionOptions.protocolVersion`).
    public var protocolVersion: String?
    /// Larger tool results are cut to this many bytes of content, with a marker saying so.
    public var maxResultBytes: Int = 256 * 1024

    public init(name: String, group: String? = nil, endpoint: Endpoint) {
        self.name = name
        self.group = group ?? name
        self.endpoint = endpoint
    }

    public var transportKind: MCPTransportKind {
        switch endpoint {
        case .stdio: .stdio
        case .streamableHTTP: .streamableHTTP
        case .sse: .sse
        }
    }
}

/// Why a server definition was refused; the message names the file, the server and the field.
public struct MCPConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension MCPServerDefinition {
    /// Variables a stdio server inherits from us. Everything else (provider keys above all) stays
    /// out of its environment unless its definition names it.
    static let inheritedEnvironment: Set<String> = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE",
                                                    "TZ", "TMPDIR", "SHELL", "TERM", "VIRTUAL_ENV", "PYTHONPATH"]

    /// Reads a `{"mcpServers": {...}}` document. `source` names it in errors; relative paths (`cwd`,
    /// a `command` with a slash) are taken from `baseDirectory`; `${VAR}` and `${VAR:-default}` in
    /// args, env, url and headers come from `environment`, so secrets need not sit in the file.
    public static func parse(_ bytes: [UInt8], source: String, baseDirectory: String,
                             environment: [String: String]) throws(MCPConfigError) -> [MCPServerDefinition] {
        let document: JSONValue
        do { document = try JSONValue.parse(bytes) } catch { throw MCPConfigError("\(source): \(error)") }
        guard let servers = document["mcpServers"]?.objectValue else {
            throw MCPConfigError("\(source): expected an object with \"mcpServers\"")
        }
        var definitions: [MCPServerDefinition] = []
        for name in servers.keys.sorted() {
            let entry = servers[name]!
            let field = FieldReader(source: source, server: name, entry: entry, environment: environment)
            let disabled = try field.bool("disabled") == true
            let enabled = try field.bool("enabled") ?? true
            if disabled || !enabled { continue }
            definitions.append(try definition(name: name, field: field, baseDirectory: baseDirectory, environment: environment))
        }
        return definitions
    }

    private static func definition(name: String, field: FieldReader, baseDirectory: String,
                                   environment: [String: String]) throws(MCPConfigError) -> MCPServerDefinition {
        guard isValidName(name) else {
            throw field.error("the name must be 1–48 letters, digits, '-' or '_'")
        }
        guard field.entry.objectValue != nil else { throw field.error("must be an object") }
        let endpoint: Endpoint
        var type = try field.string("type")
        if type == nil { type = try field.string("transport") }
        if let command = try field.string("command") {
            guard type == nil || type == "stdio" else { throw field.error("\"command\" goes with type stdio, not \(type!)") }
            guard try field.string("url") == nil else { throw field.error("give either \"command\" or \"url\", not both") }
            var env: [String: String] = [:]
            for (key, value) in environment where inheritedEnvironment.contains(key) { env[key] = value }
            for (key, value) in try field.stringMap("env") { env[key] = value }
            let executable = command.contains("/") ? absolute(command, base: baseDirectory) : command
            endpoint = .stdio(executable: executable, arguments: try field.strings("args"), environment: env,
                              workingDirectory: try field.string("cwd").map { absolute($0, base: baseDirectory) })
        } else if let url = try field.string("url") {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw field.error("\"url\" must be http:// or https://") }
            let headers = try field.stringMap("headers")
            switch type {
            case nil, "http", "streamable-http", "streamableHttp": endpoint = .streamableHTTP(url: url, headers: headers)
            case "sse": endpoint = .sse(url: url, headers: headers)
            default: throw field.error("\"type\" must be stdio, http (Streamable HTTP) or sse, not \(type!)")
            }
        } else {
            throw field.error("needs \"command\" (stdio) or \"url\" (HTTP)")
        }
        var definition = MCPServerDefinition(name: name, group: try field.string("group"), endpoint: endpoint)
        guard isValidName(definition.group) else { throw field.error("\"group\" must be 1–48 letters, digits, '-' or '_'") }
        if let health = field.entry["healthCheck"] {
            let nested = FieldReader(source: field.source, server: "\(field.server).healthCheck", entry: health, environment: environment)
            definition.healthInterval = try nested.seconds("intervalSeconds") ?? definition.healthInterval
            definition.healthTimeout = try nested.seconds("timeoutSeconds") ?? definition.healthTimeout
        }
        definition.callTimeout = try field.seconds("callTimeoutSeconds") ?? definition.callTimeout
        definition.initializeTimeout = try field.seconds("initializeTimeoutSeconds") ?? definition.initializeTimeout
        definition.startAtBoot = try field.bool("startAtBoot") ?? true
        if let version = try field.string("protocolVersion") {
            guard MCPProtocolVersion.isKnown(version) else {
                throw field.error("\"protocolVersion\" \(version) is not one BuilderAI speaks (\((MCPProtocolVersion.modern + MCPProtocolVersion.legacy).joined(separator: ", ")))")
            }
            definition.protocolVersion = version
        }
        if let bytes = try field.int("maxResultBytes") {
            guard bytes >= 1024 else { throw field.error("\"maxResultBytes\" must be at least 1024") }
            definition.maxResultBytes = bytes
        }
        return definition
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 48 && name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2D || byte == 0x5F
        }
    }

    private static func absolute(_ path: String, base: String) -> String {
        path.hasPrefix("/") ? path : (base.hasSuffix("/") ? base : base + "/") + path
    }
}

/// Typed access to one server entry, with errors that say where.
private struct FieldReader {
    let source: String
    let server: String
    let entry: JSONValue
    let environment: [String: String]

    func error(_ message: String) -> MCPConfigError { MCPConfigError("\(source): server \"\(server)\": \(message)") }

    func string(_ key: String) throws(MCPConfigError) -> String? {
        guard let value = entry[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw error("\"\(key)\" must be a string") }
        return try expand(text, key)
    }

    func strings(_ key: String) throws(MCPConfigError) -> [String] {
        guard let value = entry[key], !value.isNull else { return [] }
        guard let items = value.arrayValue else { throw error("\"\(key)\" must be an array of strings") }
        var out: [String] = []
        for item in items {
            guard let text = item.stringValue else { throw error("\"\(key)\" must be an array of strings") }
            out.append(try expand(text, key))
        }
        return out
    }

    func stringMap(_ key: String) throws(MCPConfigError) -> [String: String] {
        guard let value = entry[key], !value.isNull else { return [:] }
        guard let members = value.objectValue else { throw error("\"\(key)\" must be an object of strings") }
        var out: [String: String] = [:]
        for (name, item) in members {
            guard let text = item.stringValue else { throw error("\"\(key).\(name)\" must be a string") }
            out[name] = try expand(text, "\(key).\(name)")
        }
        return out
    }

    func bool(_ key: String) throws(MCPConfigError) -> Bool? {
        guard let value = entry[key], !value.isNull else { return nil }
        guard let flag = value.boolValue else { throw error("\"\(key)\" must be true or false") }
        return flag
    }

    func int(_ key: String) throws(MCPConfigError) -> Int? {
        guard let value = entry[key], !value.isNull else { return nil }
        guard let number = value.intValue else { throw error("\"\(key)\" must be an integer") }
        return number
    }

    func seconds(_ key: String) throws(MCPConfigError) -> Duration? {
        guard let value = entry[key], !value.isNull else { return nil }
        guard case .number(let seconds) = value, seconds > 0, seconds <= 86_400 else {
            throw error("\"\(key)\" must be a number of seconds between 0 and 86400")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// `${NAME}` and `${NAME:-default}`; a missing variable without a default is an error that
    /// names the variable (never a value).
    private func expand(_ text: String, _ key: String) throws(MCPConfigError) -> String {
        guard text.contains("${") else { return text }
        var out = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            let afterDollar = rest.index(after: dollar)
            guard afterDollar < rest.endIndex, rest[afterDollar] == "{" else {
                out += rest[...dollar]
                rest = rest[afterDollar...]
                continue
            }
            out += rest[..<dollar]
            let bodyStart = rest.index(after: afterDollar)
            guard let end = rest[bodyStart...].firstIndex(of: "}") else { throw error("\"\(key)\": unclosed ${") }
            let body = rest[bodyStart..<end]
            var name = String(body)
            var fallback: String?
            if let colon = body.firstIndex(of: ":"), body[body.index(after: colon)...].first == "-" {
                name = String(body[..<colon])
                fallback = String(body[body.index(colon, offsetBy: 2)...])
            }
            if let value = environment[name] {
                out += value
            } else if let fallback {
                out += fallback
            } else {
                throw error("\"\(key)\" uses ${\(name)}, which is not set in the environment")
            }
            rest = rest[rest.index(after: end)...]
        }
        return out + rest
    }
}

extension MCPServerDefinition {
    /// Every `*.json` file of a directory, in name order; a name defined twice is an error that
    /// names both files. A missing directory is no servers, not an error.
    public static func load(directory: String, environment: [String: String]) throws(MCPConfigError) -> [MCPServerDefinition] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw MCPConfigError("\(directory): \(String(cString: strerror(errno)))")
        }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(".json"), !name.hasPrefix(".") { names.append(name) }
        }
        closedir(dir)
        var definitions: [MCPServerDefinition] = []
        var origin: [String: String] = [:]
        for name in names.sorted() {
            let path = directory + "/" + name
            let bytes = try readFile(path)
            for definition in try parse(bytes, source: path, baseDirectory: directory, environment: environment) {
                if let first = origin[definition.name] {
                    throw MCPConfigError("server \"\(definition.name)\" is defined in both \(first) and \(path)")
                }
                origin[definition.name] = path
                definitions.append(definition)
            }
        }
        return definitions
    }

    static func readFile(_ path: String) throws(MCPConfigError) -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MCPConfigError("\(path): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw MCPConfigError("\(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= 4 << 20 else { throw MCPConfigError("\(path): larger than 4 MiB") }
        }
        return bytes
    }
}
