/// The rules for workspace paths and sizes, in one place for everything that writes `project_files`
/// (the chat engine's workspace tools and the REST file routes).
extension ProjectFile {
    /// Largest file, project total, and path length.
    public static let maxBytes = 1 << 20
    public static let maxProjectBytes = 64 << 20
    public static let maxPathBytes = 256

    /// Why a path was refused, in words that name it.
    public struct PathProblem: Error, Sendable, Equatable {
        public var reason: String

        public init(reason: String) {
            self.reason = reason
        }
    }

    /// A workspace path in canonical form (a trailing "/" dropped), or why it is refused. Paths are
    /// relative and stay inside the project: not empty, at most `maxPathBytes`, no leading "/", no
    /// "." or ".." segments, no empty segments, no backslashes or control characters.
    public static func canonicalPath(_ path: String) -> Result<String, PathProblem> {
        func refuse(_ reason: String) -> Result<String, PathProblem> { .failure(PathProblem(reason: reason)) }
        guard !path.isEmpty else { return refuse("the file path is empty") }
        guard path.utf8.count <= maxPathBytes else {
            return refuse("the path is \(path.utf8.count) bytes long; the limit is \(maxPathBytes)")
        }
        let shown = quoted(path)
        guard !path.hasPrefix("/") else { return refuse("\(shown) is absolute; paths are relative to the project") }
        guard !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\u{7f}" || $0 == "\\" }) else {
            return refuse("the path \(shown) contains a backslash or a control character")
        }
        var segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.last == "" { segments.removeLast() }
        for segment in segments {
            if segment.isEmpty { return refuse("\(shown) has an empty segment (\"//\")") }
            if segment == "." || segment == ".." {
                return refuse("\(shown) leaves the project (\"\(segment)\" segments are not allowed)")
            }
        }
        return .success(segments.joined(separator: "/"))
    }

    /// The path in double quotes, with quotes, backslashes and control characters escaped, so a
    /// hostile path cannot forge the rest of a message.
    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
