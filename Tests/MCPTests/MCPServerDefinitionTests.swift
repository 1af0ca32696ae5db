import Foundation
import Net
import TestSupport
import Testing
@testable import MCP

@Suite struct MCPServerDefinitionTests {
    static func parse(_ text: String, environment: [String: String] = [:]) throws(MCPConfigError) -> [MCPServerDefinition] {
        try MCPServerDefinition.parse(Array(text.utf8), source: "test.json", baseDirectory: "/srv/mcp", environment: environment)
    }

    @Test func readsTheFormatMCPClientsUseWithOurExtensions() throws {
        let definitions = try Self.parse("""
        {"mcpServers": {
          "time": {"command": "python3", "args": ["-m", "mcp_server_time"], "env": {"TZ": "UTC"},
                   "group": "clock", "healthCheck": {"intervalSeconds": 2.5, "timeoutSeconds": 1},
                   "callTimeoutSeconds": 9, "startAtBoot": false, "protocolVersion": "2025-06-18", "maxResultBytes": 4096},
          "local": {"command": "bin/server", "cwd": "work"},
          "remote": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
          "old": {"type": "sse", "url": "http://127.0.0.1:9000/sse"},
          "off": {"command": "x", "disabled": true}
        }}
        """, environment: ["TOKEN": "s3cret", "PATH": "/usr/bin", "OPENAI_API_KEY": "sk-never-inherited"])
        #expect(definitions.map(\.name) == ["local", "old", "remote", "time"])
        let time = try #require(definitions.first { $0.name == "time" })
        #expect(time.group == "clock")
        #expect(time.healthInterval == .milliseconds(2500) && time.healthTimeout == .seconds(1))
        #expect(time.callTimeout == .seconds(9) && !time.startAtBoot)
        #expect(time.protocolVersion == "2025-06-18" && time.maxResultBytes == 4096)
        guard case .stdio(let executable, let arguments, let environment, let directory) = time.endpoint else {
            Issue.record("time is stdio")
            return
        }
        #expect(executable == "python3" && arguments == ["-m", "mcp_server_time"] && directory == nil)
        // Only the definition's own variables and a few harmless ones reach the child: never our keys.
        #expect(environment == ["TZ": "UTC", "PATH": "/usr/bin"])
        let local = try #require(definitions.first { $0.name == "local" })
        #expect(local.endpoint == .stdio(executable: "/srv/mcp/bin/server", arguments: [], environment: ["PATH": "/usr/bin"],
                                         workingDirectory: "/srv/mcp/work"))
        #expect(local.group == "local" && local.startAtBoot)
        let remote = try #require(definitions.first { $0.name == "remote" })
        #expect(remote.endpoint == .streamableHTTP(url: "https://mcp.example.com/mcp", headers: ["Authorization": "Bearer s3cret"]))
        #expect(definitions.first { $0.name == "old" }?.transportKind == .sse)
    }

    @Test(arguments: [
        (#"{"servers": {}}"#, "expected an object with \"mcpServers\""),
        (#"{"mcpServers": {"a b": {"command": "x"}}}"#, "the name must be"),
        (#"{"mcpServers": {"a": {}}}"#, "needs \"command\" (stdio) or \"url\" (HTTP)"),
        (#"{"mcpServers": {"a": {"command": "x", "url": "http://h"}}}"#, "not both"),
        (#"{"mcpServers": {"a": {"command": 3}}}"#, "\"command\" must be a string"),
        (#"{"mcpServers": {"a": {"command": "x", "args": "-v"}}}"#, "\"args\" must be an array of strings"),
        (#"{"mcpServers": {"a": {"command": "x", "env": {"K": 1}}}}"#, "\"env.K\" must be a string"),
        (#"{"mcpServers": {"a": {"url": "ftp://h"}}}"#, "must be http:// or https://"),
        (#"{"mcpServers": {"a": {"url": "http://h", "type": "websocket"}}}"#, "\"type\" must be stdio, http"),
        (#"{"mcpServers": {"a": {"command": "x", "callTimeoutSeconds": -1}}}"#, "between 0 and 86400"),
        (#"{"mcpServers": {"a": {"command": "x", "protocolVersion": "2023-01-01"}}}"#, "is not one BuilderAI speaks"),
        (#"{"mcpServers": {"a": {"command": "x", "args": ["${MISSING}"]}}}"#, "uses ${MISSING}, which is not set"),
        (#"{"mcpServers": {"a": {"command": "x", "group": "no/slash"}}}"#, "\"group\" must be"),
        (#"{"mcpServers": {"a": {"command": "x", "maxResultBytes": 10}}}"#, "at least 1024"),
        (#"{"mcpServers": "#, "test.json: invalid JSON"),
    ])
    func refusesBadDefinitionsSayingWhereAndWhy(text: String, message: String) {
        do {
            _ = try Self.parse(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
            #expect(error.message.hasPrefix("test.json"))
        }
    }

    @Test func expandsVariablesWithDefaultsAndNeverPrintsValues() throws {
        let definitions = try Self.parse(#"{"mcpServers": {"a": {"command": "${PY:-python3}", "args": ["$HOME", "${X}-${Y:-y}"]}}}"#,
                                         environment: ["X": "x"])
        guard case .stdio(let executable, let arguments, _, _) = definitions[0].endpoint else { return }
        #expect(executable == "python3")
        #expect(arguments == ["$HOME", "x-y"])
        do {
            _ = try Self.parse(#"{"mcpServers": {"a": {"url": "http://h", "headers": {"A": "${TOKEN}"}}}}"#, environment: [:])
            Issue.record("a missing variable was accepted")
        } catch {
            #expect(error.message.contains("${TOKEN}"))
        }
    }

    @Test func loadsADirectoryAndRefusesANameDefinedTwice() throws {
        let directory = TemporaryDirectory()
        try #"{"mcpServers": {"one": {"command": "a"}}}"#.write(toFile: directory.path + "/a.json", atomically: true, encoding: .utf8)
        try #"{"mcpServers": {"two": {"url": "http://127.0.0.1:1/mcp"}}}"#.write(toFile: directory.path + "/b.json", atomically: true, encoding: .utf8)
        try "not json, and ignored".write(toFile: directory.path + "/README.md", atomically: true, encoding: .utf8)
        #expect(try MCPServerDefinition.load(directory: directory.path, environment: [:]).map(\.name) == ["one", "two"])
        try #"{"mcpServers": {"one": {"command": "b"}}}"#.write(toFile: directory.path + "/c.json", atomically: true, encoding: .utf8)
        #expect(throws: MCPConfigError.self) { try MCPServerDefinition.load(directory: directory.path, environment: [:]) }
        #expect(try MCPServerDefinition.load(directory: directory.path + "/missing", environment: [:]).isEmpty)
    }

    @Test func theShippedExamplesParse() throws {
        let examples = Peers.packageRoot.appendingPathComponent("mcp-servers/examples").path
        let definitions = try MCPServerDefinition.load(directory: examples,
                                                       environment: ["GIT_REPOSITORY": "/tmp/repo", "SEARCH_TOKEN": "t"])
        #expect(Set(definitions.map(\.name)) == ["time", "git", "search-a", "search-b", "legacy-docs"])
        #expect(Set(definitions.filter { $0.group == "search" }.map(\.name)) == ["search-a", "search-b"])
    }

    @Test func exposedToolNamesAreValidUniqueAndStable() {
        #expect(MCPToolNames.exposedName(group: "git", tool: "git_status") == "git__git_status")
        let odd = MCPToolNames.exposedName(group: "g", tool: "read.file")
        #expect(odd.hasPrefix("g__read_file_") && odd != MCPToolNames.exposedName(group: "g", tool: "read_file"))
        #expect(odd == MCPToolNames.exposedName(group: "g", tool: "read.file"))
        let long = MCPToolNames.exposedName(group: "group", tool: String(repeating: "x", count: 100))
        #expect(long.utf8.count == 64)
        #expect(long != MCPToolNames.exposedName(group: "group", tool: String(repeating: "x", count: 101)))
    }

    @Test func parameterHeadersFollowTheSpec() {
        let schema = try! JSONValue.parse(#"{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"},"n":{"type":"integer","x-mcp-header":"N"},"q":{"type":"string"}}}"#)
        let headers = MCPParameterHeaders.headers(schema: schema, arguments: .object(["region": .string("Hello, 世界"), "n": .number(42), "q": .string("x")]))
        #expect(headers.map(\.name) == ["Mcp-Param-N", "Mcp-Param-Region"])
        #expect(headers.map(\.value) == ["42", "=?base64?SGVsbG8sIOS4lueVjA==?="])
        #expect(MCPParameterHeaders.encode("us-west1") == "us-west1")
        #expect(MCPParameterHeaders.encode(" padded ") == "=?base64?IHBhZGRlZCA=?=")
        #expect(MCPParameterHeaders.encode("=?base64?literal?=") == "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=")
        #expect(MCPParameterHeaders.problem(schema: schema) == nil)
        let nested = try! JSONValue.parse(#"{"type":"object","properties":{"a":{"type":"array","items":{"type":"string","x-mcp-header":"A"}}}}"#)
        #expect(MCPParameterHeaders.problem(schema: nested) != nil)
        let number = try! JSONValue.parse(#"{"type":"object","properties":{"a":{"type":"number","x-mcp-header":"A"}}}"#)
        #expect(MCPParameterHeaders.problem(schema: number) != nil)
        let twice = try! JSONValue.parse(#"{"type":"object","properties":{"a":{"type":"string","x-mcp-header":"A"},"b":{"type":"string","x-mcp-header":"a"}}}"#)
        #expect(MCPParameterHeaders.problem(schema: twice) != nil)
    }
}
