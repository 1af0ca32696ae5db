import Testing
@testable import Chat

@Suite struct ClientMessageTests {
    func parse(_ text: String) -> (String?, Result<ClientMessage, ChatError>) {
        Array(text.utf8).withUnsafeBytes { ClientMessage.parse($0) }
    }

    @Test func readsAPromptWithItsRef() throws {
        let (ref, result) = parse(#"{"type":"prompt","ref":"s1","conversation":"c1","client_id":"k","text":"hi"}"#)
        #expect(ref == "s1")
        #expect(try result.get() == .prompt(conversation: "c1", clientID: "k", text: "hi"))
    }

    @Test(arguments: [
        (#"{"type":"open","conversation":"c","after_seq":1.5}"#, #""after_seq" must be an integer"#),
        (#"{"type":"open","conversation":7}"#, #""conversation" must be an id"#),
        (#"{"type":"prompt","conversation":"c","client_id":"","text":"x"}"#, #""client_id" must be a string of 1 to 64"#),
        (#"{"type":"prompt","conversation":"c","client_id":"k","text":"   "}"#, #""text" must be a non-empty string"#),
        (#"{"type":"list_conversations","project":"p","limit":0}"#, #""limit" must be an integer between 1 and 100"#),
        (#"{"type":"join","project":"p","ref":5}"#, #""ref" must be a string"#),
        (#"{"type":"fly"}"#, #"unknown message type "fly""#),
        (#"["join"]"#, "a message must be a JSON object"),
        (#"{"type":"join""#, "not valid JSON"),
    ])
    func namesWhatIsWrong(text: String, expected: String) {
        let (_, result) = parse(text)
        guard case .failure(let error) = result else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(error.code == .badRequest)
        #expect(error.message.contains(expected), "\(error.message)")
    }
}

@Suite struct WorkspacePathTests {
    @Test(arguments: ["index.html", "src/app.js", "a/b/c.txt", "dir/"])
    func acceptsRelativePaths(path: String) throws {
        #expect(try WorkspaceTools.validate(.string(path)).get() == (path.hasSuffix("/") ? String(path.dropLast()) : path))
    }

    @Test(arguments: ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a\\b", "a\u{0}b", "", String(repeating: "a", count: 300)])
    func refusesPathsThatLeaveTheProject(path: String) {
        if case .success(let accepted) = WorkspaceTools.validate(.string(path)) {
            Issue.record("accepted \(path) as \(accepted)")
        }
    }

    @Test func refusesANonStringPath() {
        if case .success = WorkspaceTools.validate(.number(3)) { Issue.record("accepted a number") }
        if case .success = WorkspaceTools.validate(nil) { Issue.record("accepted a missing path") }
    }
}

@Suite struct PromptLibraryTests {
    @Test func rendersTheShippedDefaultWithEveryVariable() throws {
        let library = try PromptLibrary(directory: TestSupportPaths.prompts)
        let text = library.render("default", ["project_name": "Bakery", "project_description": "cakes", "tools": "- read_file: x",
                                              "date": "2026-12-06", "user_name": "Ada"])
        #expect(text.contains("\"Bakery\"") && text.contains("cakes") && text.contains("- read_file") && !text.contains("{{"))
        #expect(library.render("no-such-template", [:]).contains("BuilderAI"), "unknown names fall back to default")
    }

    @Test func anUnknownVariableIsAnErrorAtLoadNamingFileAndLine() throws {
        let directory = TemporaryDirectoryForPrompts()
        defer { directory.remove() }
        try directory.write("broken.txt", "Hello\n{{project_name}} and {{projct_name}}\n")
        #expect {
            _ = try PromptLibrary(directory: directory.path)
        } throws: { error in
            "\(error)".contains("broken.txt:2: unknown variable {{projct_name}}")
        }
        try directory.write("broken.txt", "Hello {{project_name")
        #expect(throws: PromptLibrary.LoadError.self) { _ = try PromptLibrary(directory: directory.path) }
    }
}
