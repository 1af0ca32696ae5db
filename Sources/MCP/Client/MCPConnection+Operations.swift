import Net

/// The MCP methods BuilderAI uses, on top of `request`. Each completes on the connection's loop.
extension MCPConnection {
    /// A server that keeps returning cursors cannot keep us paging forever.
    static let maxListPages = 100

    /// Every tool, following `nextCursor` across pages.
    public func listTools(_ completion: @escaping (Result<[MCPTool], MCPError>) -> Void) {
        listAll("tools/list", key: "tools") { result in
            completion(result.map { items in items.compactMap(MCPTool.init) })
        }
    }

    public func listResources(_ completion: @escaping (Result<[JSONValue], MCPError>) -> Void) {
        listAll("resources/list", key: "resources", completion)
    }

    public func listPrompts(_ completion: @escaping (Result<[JSONValue], MCPError>) -> Void) {
        listAll("prompts/list", key: "prompts", completion)
    }

    /// `contents` of `resources/read`.
    public func readResource(uri: String, _ completion: @escaping (Result<[JSONValue], MCPError>) -> Void) {
        request("resources/read", params: ["uri": .string(uri)]) { result in
            completion(result.flatMap { value in
                guard let contents = value["contents"]?.arrayValue else { return .failure(.invalidResponse("resources/read without contents")) }
                return .success(contents)
            })
        }
    }

    /// The `prompts/get` result: `description` and `messages`.
    public func getPrompt(name: String, arguments: [String: String] = [:],
                          _ completion: @escaping (Result<JSONValue, MCPError>) -> Void) {
        var params: [String: JSONValue] = ["name": .string(name)]
        if !arguments.isEmpty { params["arguments"] = .object(arguments.mapValues { .string($0) }) }
        request("prompts/get", params: params) { result in
            completion(result.flatMap { value in
                value["messages"]?.arrayValue == nil ? .failure(.invalidResponse("prompts/get without messages")) : .success(value)
            })
        }
    }

    /// Calls a tool. `arguments` must be a JSON object. A tool that fails reports it in the result
    /// (`isError`); only protocol and transport failures are errors here.
    @discardableResult
    public func callTool(name: String, arguments: JSONValue, timeout: Duration? = nil, tool: MCPTool? = nil,
                         onProgress: ((MCPProgress) -> Void)? = nil,
                         _ completion: @escaping (Result<MCPToolResult, MCPError>) -> Void) -> JSONRPCID? {
        var headers: [(name: String, value: String)] = []
        if transport.kind == .streamableHTTP, era == .modern, let tool {
            headers = MCPParameterHeaders.headers(schema: tool.inputSchema, arguments: arguments)
        }
        return request("tools/call", params: ["name": .string(name), "arguments": arguments], timeout: timeout,
                       options: MCPSendOptions(extraHeaders: headers), onProgress: onProgress) { result in
            completion(result.flatMap { value in
                guard value["content"]?.arrayValue != nil || value["structuredContent"] != nil else {
                    return .failure(.invalidResponse("tools/call result without content"))
                }
                return .success(MCPToolResult(value))
            })
        }
    }

    /// A liveness check that costs the server almost nothing: `ping` in legacy sessions, and
    /// `server/discover` in modern ones (2026-07-28 removed `ping`).
    public func probe(timeout: Duration, _ completion: @escaping (Result<Void, MCPError>) -> Void) {
        request(era == .modern ? "server/discover" : "ping", timeout: timeout) { result in
            completion(result.map { _ in () })
        }
    }

    private func listAll(_ method: String, key: String, _ completion: @escaping (Result<[JSONValue], MCPError>) -> Void) {
        var collected: [JSONValue] = []
        var seenCursors: Set<String> = []
        func page(_ cursor: String?, _ number: Int) {
            request(method, params: cursor.map { ["cursor": .string($0)] } ?? [:]) { result in
                switch result {
                case .failure(let error):
                    completion(.failure(error))
                case .success(let value):
                    guard let items = value[key]?.arrayValue else {
                        return completion(.failure(.invalidResponse("\(method) result without \(key)")))
                    }
                    collected.append(contentsOf: items)
                    guard let next = value["nextCursor"]?.stringValue, !next.isEmpty else { return completion(.success(collected)) }
                    guard number < Self.maxListPages, seenCursors.insert(next).inserted else {
                        return completion(.failure(.invalidResponse("\(method) kept paging (\(number) pages, cursor repeated or too many)")))
                    }
                    page(next, number + 1)
                }
            }
        }
        page(nil, 1)
    }
}
