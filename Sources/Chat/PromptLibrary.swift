import Glibc

/// System prompt templates from `prompts/`: plain text with `{{variable}}` placeholders.
///
/// Every placeholder is checked when the library loads: one that names no known variable is an error
/// then, with the file and line, never an empty string in front of a model later.
public struct PromptLibrary: Sendable {
    /// The variables a template may use, filled per generation.
    public static let variables: Set<String> = ["project_name", "project_description", "tools", "date", "user_name"]

    /// Used when no `prompts/default.txt` is present, so a bare binary still has a system prompt.
    public static let builtinDefault = """
        You are BuilderAI, an assistant that helps people build apps inside the project "{{project_name}}".
        Project description: {{project_description}}
        Today is {{date}}. You are talking with {{user_name}}.

        The project has a workspace of files. Use the tools to read and change it rather than pasting
        whole files into the chat; keep answers short and say what you changed.

        Tools available:
        {{tools}}
        """

    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    private var templates: [String: Template]

    /// Loads every `*.txt` in `directory` (a missing directory gives just the built-in default).
    public init(directory: String?) throws(LoadError) {
        templates = ["default": try Template(text: Self.builtinDefault, source: "built-in default")]
        guard let directory, let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasSuffix(".txt"), !name.hasPrefix(".") else { continue }
            let path = directory + "/" + name
            guard let text = Self.readFile(path) else { throw LoadError(description: "cannot read \(path)") }
            templates[String(name.dropLast(4))] = try Template(text: text, source: path)
        }
    }

    /// The names of the templates, for listings and validation.
    public var names: [String] { templates.keys.sorted() }

    /// Renders template `name` (falling back to "default" for an unknown name).
    public func render(_ name: String, _ values: [String: String]) -> String {
        (templates[name] ?? templates["default"]!).render(values)
    }

    struct Template: Sendable {
        enum Piece: Sendable { case literal(String), variable(String) }
        let pieces: [Piece]

        init(text: String, source: String) throws(LoadError) {
            var pieces: [Piece] = []
            var rest = Substring(text)
            while let open = rest.range(of: "{{") {
                pieces.append(.literal(String(rest[..<open.lowerBound])))
                let line = text[..<open.lowerBound].reduce(1) { $0 + ($1 == "\n" ? 1 : 0) }
                guard let close = rest[open.upperBound...].range(of: "}}") else {
                    throw LoadError(description: "\(source):\(line): \"{{\" is never closed")
                }
                let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: " ")
                guard PromptLibrary.variables.contains(name) else {
                    throw LoadError(description: "\(source):\(line): unknown variable {{\(name)}}; known: "
                                    + PromptLibrary.variables.sorted().joined(separator: ", "))
                }
                pieces.append(.variable(name))
                rest = rest[close.upperBound...]
            }
            pieces.append(.literal(String(rest)))
            self.pieces = pieces
        }

        func render(_ values: [String: String]) -> String {
            var out = ""
            for piece in pieces {
                switch piece {
                case .literal(let text): out += text
                case .variable(let name): out += values[name] ?? ""
                }
            }
            return out
        }
    }

    private static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n > 0 { bytes += buffer[0..<n] }
            if n < buffer.count { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
