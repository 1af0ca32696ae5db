import Net

/// A message from a chat client, validated. Parsing names the first field that is wrong, so the
/// `error` reply tells the client exactly what to fix.
enum ClientMessage: Equatable {
    case join(project: String)
    case leave(project: String)
    case listConversations(project: String, cursor: String?, limit: Int)
    case newConversation(project: String, title: String)
    case open(conversation: String, afterSeq: Int?)
    case closeConversation(conversation: String)
    case history(conversation: String, beforeSeq: Int?, limit: Int)
    case prompt(conversation: String, clientID: String, text: String)
    case cancel(conversation: String)
    case regenerate(conversation: String, clientID: String)

    /// Longest prompt accepted, in characters.
    static let maxPromptCharacters = 100_000
    static let maxTitleCharacters = 200

    /// The parsed message and its `ref`, or the error to reply with (and the `ref`, when readable).
    static func parse(_ bytes: UnsafeRawBufferPointer) -> (ref: String?, result: Result<ClientMessage, ChatError>) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(Array(bytes))
        } catch {
            return (nil, .failure(ChatError(.badRequest, "the message is not valid JSON: \(error)")))
        }
        guard case .object(let object) = value else {
            return (nil, .failure(ChatError(.badRequest, "a message must be a JSON object")))
        }
        var ref: String?
        if let raw = object["ref"] {
            guard let text = raw.stringValue, text.count <= 64 else {
                return (nil, .failure(ChatError(.badRequest, "\"ref\" must be a string of at most 64 characters")))
            }
            ref = text
        }
        do {
            return (ref, .success(try parse(object)))
        } catch let error as ChatError {
            return (ref, .failure(error))
        } catch {
            return (ref, .failure(ChatError(.badRequest, "\(error)")))
        }
    }

    private static func parse(_ object: [String: JSONValue]) throws -> ClientMessage {
        guard let type = object["type"] else { throw ChatError(.badRequest, "the message has no \"type\"") }
        guard let name = type.stringValue else { throw ChatError(.badRequest, "\"type\" must be a string") }
        let fields = Fields(object: object)
        switch name {
        case "join": return .join(project: try fields.id("project"))
        case "leave": return .leave(project: try fields.id("project"))
        case "list_conversations":
            return .listConversations(project: try fields.id("project"), cursor: try fields.optionalString("cursor", max: 200),
                                      limit: try fields.optionalInt("limit", in: 1...100) ?? 50)
        case "new_conversation":
            return .newConversation(project: try fields.id("project"),
                                    title: try fields.optionalString("title", max: maxTitleCharacters) ?? "")
        case "open":
            return .open(conversation: try fields.id("conversation"), afterSeq: try fields.optionalInt("after_seq", in: 0...Int.max))
        case "close_conversation": return .closeConversation(conversation: try fields.id("conversation"))
        case "history":
            return .history(conversation: try fields.id("conversation"),
                            beforeSeq: try fields.optionalInt("before_seq", in: 1...Int.max),
                            limit: try fields.optionalInt("limit", in: 1...100) ?? 50)
        case "prompt":
            return .prompt(conversation: try fields.id("conversation"), clientID: try fields.clientID(),
                           text: try fields.text("text", max: maxPromptCharacters))
        case "cancel": return .cancel(conversation: try fields.id("conversation"))
        case "regenerate":
            return .regenerate(conversation: try fields.id("conversation"), clientID: try fields.clientID())
        default:
            throw ChatError(.badRequest, "unknown message type \"\(name)\"")
        }
    }

    /// Field readers whose errors name the field.
    private struct Fields {
        let object: [String: JSONValue]

        func id(_ key: String) throws -> String {
            guard let value = object[key] else { throw ChatError(.badRequest, "\"\(key)\" is missing") }
            guard let text = value.stringValue, !text.isEmpty, text.utf8.count <= 64 else {
                throw ChatError(.badRequest, "\"\(key)\" must be an id (a non-empty string of at most 64 characters)")
            }
            return text
        }

        func clientID() throws -> String {
            guard let value = object["client_id"] else { throw ChatError(.badRequest, "\"client_id\" is missing") }
            guard let text = value.stringValue, (1...64).contains(text.count) else {
                throw ChatError(.badRequest, "\"client_id\" must be a string of 1 to 64 characters")
            }
            return text
        }

        func text(_ key: String, max: Int) throws -> String {
            guard let value = object[key] else { throw ChatError(.badRequest, "\"\(key)\" is missing") }
            guard let text = value.stringValue, !text.isEmpty, text.count <= max,
                  text.contains(where: { !$0.isWhitespace }) else {
                throw ChatError(.badRequest, "\"\(key)\" must be a non-empty string of at most \(max) characters")
            }
            return text
        }

        func optionalString(_ key: String, max: Int) throws -> String? {
            guard let value = object[key], !value.isNull else { return nil }
            guard let text = value.stringValue, text.count <= max else {
                throw ChatError(.badRequest, "\"\(key)\" must be a string of at most \(max) characters")
            }
            return text
        }

        func optionalInt(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
            guard let value = object[key], !value.isNull else { return nil }
            guard case .number(let number) = value, number.rounded() == number, number >= Double(range.lowerBound),
                  number <= Double(range.upperBound), let int = Int(exactly: number) else {
                let upper = range.upperBound == Int.max ? "" : " and \(range.upperBound)"
                throw ChatError(.badRequest, upper.isEmpty ? "\"\(key)\" must be an integer of at least \(range.lowerBound)"
                                : "\"\(key)\" must be an integer between \(range.lowerBound)\(upper)")
            }
            return int
        }
    }
}
