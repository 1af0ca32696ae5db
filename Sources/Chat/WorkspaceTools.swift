import LLM
import Net
import Store

/// The built-in tools that let the model work on its project's files (`project_files`): list, read,
/// write and delete, each scoped to the one project and with every path checked.
enum WorkspaceTools {
    static let maxFileBytes = ProjectFile.maxBytes
    static let maxProjectBytes = ProjectFile.maxProjectBytes

    static let names: Set<String> = ["list_files", "read_file", "write_file", "delete_file"]

    static let definitions: [ToolDefinition] = [
        ToolDefinition(name: "list_files", description: "List the files in the project workspace with their sizes.",
                       parametersJSON: #"{"type":"object","properties":{}}"#),
        ToolDefinition(name: "read_file", description: "Read a file of the project workspace.",
                       parametersJSON: #"{"type":"object","properties":{"path":{"type":"string","description":"relative path, like src/index.html"}},"required":["path"]}"#),
        ToolDefinition(name: "write_file", description: "Create or replace a file in the project workspace.",
                       parametersJSON: #"{"type":"object","properties":{"path":{"type":"string","description":"relative path, like src/index.html"},"content":{"type":"string"}},"required":["path","content"]}"#),
        ToolDefinition(name: "delete_file", description: "Delete a file from the project workspace.",
                       parametersJSON: #"{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"#),
    ]

    /// The tool's `path` argument in canonical form (`ProjectFile.canonicalPath`), or why not.
    static func validate(_ raw: JSONValue?) -> Result<String, ProjectFile.PathProblem> {
        guard let path = raw?.stringValue else { return .failure(ProjectFile.PathProblem(reason: "\"path\" must be a string")) }
        return ProjectFile.canonicalPath(path)
    }

    /// The result of a tool: MCP-style content blocks and whether it failed.
    struct Outcome: Sendable {
        var content: [JSONValue]
        var isError: Bool

        static func text(_ text: String, isError: Bool = false) -> Outcome {
            Outcome(content: [.object(["type": "text", "text": .string(text)])], isError: isError)
        }
    }

    /// Runs a workspace tool. Reads happen at once on the loop's reader; writes go through the writer
    /// and complete on `loop`.
    static func run(_ name: String, arguments: JSONValue, projectID: String, store: Store, loop: EventLoop,
                    completion: @escaping @Sendable (Outcome) -> Void) {
        func read<T>(_ body: (SQLiteConnection) throws -> T) -> Result<T, any Error> {
            Result { try store.readers.read(loop: loop.index, body) }
        }
        switch name {
        case "list_files":
            switch read({ try ProjectFile.list($0, projectID: projectID) }) {
            case .success(let files):
                let lines = files.map { "\($0.path) (\($0.size) bytes, version \($0.version))" }
                completion(.text(lines.isEmpty ? "The workspace is empty." : lines.joined(separator: "\n")))
            case .failure(let error): completion(.text("could not list files: \(error)", isError: true))
            }
        case "read_file":
            let path: String
            switch validate(arguments["path"]) {
            case .success(let valid): path = valid
            case .failure(let error): return completion(.text(error.reason, isError: true))
            }
            switch read({ try ProjectFile.get($0, projectID: projectID, path: path) }) {
            case .success(let file?): completion(.text(String(decoding: file.content, as: UTF8.self)))
            case .success(nil): completion(.text("no file \"\(path)\" in the workspace", isError: true))
            case .failure(let error): completion(.text("could not read \(path): \(error)", isError: true))
            }
        case "write_file":
            let path: String
            switch validate(arguments["path"]) {
            case .success(let valid): path = valid
            case .failure(let error): return completion(.text(error.reason, isError: true))
            }
            guard let content = arguments["content"]?.stringValue else {
                return completion(.text("\"content\" must be a string", isError: true))
            }
            let bytes = Array(content.utf8)
            guard bytes.count <= maxFileBytes else {
                return completion(.text("the file is \(bytes.count) bytes; the limit is \(maxFileBytes)", isError: true))
            }
            write(store: store, loop: loop, completion: completion) { db in
                let existing = try ProjectFile.get(db, projectID: projectID, path: path)?.size ?? 0
                let total = try ProjectFile.totalSize(db, projectID: projectID) - existing + bytes.count
                guard total <= maxProjectBytes else {
                    return .text("the workspace would hold \(total) bytes; the limit is \(maxProjectBytes)", isError: true)
                }
                _ = try ProjectFile.put(db, projectID: projectID, path: path, content: bytes)
                return .text("wrote \(path) (\(bytes.count) bytes)")
            }
        case "delete_file":
            let path: String
            switch validate(arguments["path"]) {
            case .success(let valid): path = valid
            case .failure(let error): return completion(.text(error.reason, isError: true))
            }
            write(store: store, loop: loop, completion: completion) { db in
                try ProjectFile.delete(db, projectID: projectID, path: path)
                    ? .text("deleted \(path)") : .text("no file \"\(path)\" in the workspace", isError: true)
            }
        default:
            completion(.text("unknown workspace tool \(name)", isError: true))
        }
    }

    private static func write(store: Store, loop: EventLoop, completion: @escaping @Sendable (Outcome) -> Void,
                              _ work: @escaping @Sendable (SQLiteConnection) throws -> Outcome) {
        do {
            try store.writer.submit(work) { result in
                let outcome: Outcome
                switch result {
                case .success(let value): outcome = value
                case .failure(let error): outcome = .text("the workspace could not be changed: \(error)", isError: true)
                }
                loop.execute { completion(outcome) }
            }
        } catch {
            completion(.text("the workspace is busy; try again: \(error)", isError: true))
        }
    }
}
