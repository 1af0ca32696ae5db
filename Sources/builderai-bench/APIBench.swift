import Glibc
import Net
import Store

/// `builderai-bench api-seed`: fills a data directory for the REST API benchmark of issue 7.
///
///   builderai-bench api-seed --data-dir DIR --email PUBLISHER_EMAIL [--apps 10000] [--readers 4000] [--installers 20000]
///
/// The publisher (made with `builderai user create`) gets `--apps` published apps, each on its own
/// project with a 2 KB file and a configuration, named and described from a fixed word list so
/// searches match a predictable share. It also makes `--readers` accounts with a personal token each
/// (DIR/bench-readers.txt) and `--installers` more (DIR/bench-installers.txt), one token a line,
/// and prints the first app's id. Many tokens, because the API rate-limits each token (50/s,
/// burst 100) and the load generator rotates through them; installers are all distinct so every
/// install is a real first install. Everything is one transaction, straight on the database.
enum APIBench {
    static let words = ["planner", "notes", "tutor", "invoice", "budget", "recipe", "fitness", "travel", "poetry", "chess",
                        "spanish", "physics", "resume", "meeting", "email", "sql", "python", "swift", "design", "music",
                        "garden", "weather", "stocks", "crm", "legal", "medical", "story", "quiz", "math", "history",
                        "photo", "video", "podcast", "translate", "summarize", "review", "debug", "deploy", "security", "data",
                        "chart", "calendar", "habit", "journal", "language", "kids", "sales", "support", "marketing", "game"]
    static let categories = ["productivity", "developer-tools", "education", "games", "business", "other"]

    static func runIfAsked() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard args.first == "api-seed" else { return }
        var dataDir = ""
        var email = ""
        var apps = 10_000
        var readers = 4_000
        var installers = 20_000
        var index = 1
        while index + 1 < args.count {
            switch args[index] {
            case "--data-dir": dataDir = args[index + 1]
            case "--email": email = args[index + 1]
            case "--apps": apps = Int(args[index + 1]) ?? -1
            case "--readers": readers = Int(args[index + 1]) ?? -1
            case "--installers": installers = Int(args[index + 1]) ?? -1
            default: die("unknown option \(args[index])")
            }
            index += 2
        }
        guard !dataDir.isEmpty, !email.isEmpty, apps > 0, readers > 0, installers >= 0 else {
            die("api-seed needs --data-dir, --email and positive --apps and --readers")
        }
        do {
            let db = try SQLiteConnection(path: Maintenance.databasePath(inDirectory: dataDir))
            try Migrator.migrate(db)
            let firstApp = try db.transaction { () throws -> String in
                guard let publisher = try User.find(db, email: email) else {
                    throw StoreError(kind: .sqlite, message: "no account with email \(email)")
                }
                let ids = try seedApps(db, publisher: publisher.id, count: apps)
                try writeTokens(db, count: readers, label: "reader", file: dataDir + "/bench-readers.txt")
                try writeTokens(db, count: installers, label: "installer", file: dataDir + "/bench-installers.txt")
                return ids[0]
            }
            print(firstApp)
            exit(0)
        } catch {
            die("api-seed failed: \(error)")
        }
    }

    /// Publishes `count` apps; app i is named after words i mod 50 and (i / 50) mod 50 and
    /// described with three more, so a one-word search matches about 1 app in 12.
    static func seedApps(_ db: SQLiteConnection, publisher: String, count: Int) throws -> [String] {
        var generator = SplitMix(seed: 7)
        let file = Array(String(repeating: "You are a helpful assistant. ", count: 70).utf8)
        var ids: [String] = []
        ids.reserveCapacity(count)
        for i in 0..<count {
            let first = words[i % words.count]
            let second = words[(i / words.count) % words.count]
            let project = try Project.create(db, ownerID: publisher, name: "\(first) \(second) \(i)", llm: "offline/offline")
            _ = try ProjectFile.put(db, projectID: project.id, path: "prompts/system.md", content: file)
            _ = try ProjectConfig.set(db, projectID: project.id, mcpServersJSON: "[]", settingsJSON: #"{"temperature":0.3}"#)
            let description = (0..<3).map { _ in words[Int(generator.next() % UInt64(words.count))] }.joined(separator: " ")
            let price: Int64 = i % 4 == 0 ? 299 : 0
            let app = try App.publish(db, projectID: project.id, publisherID: publisher, name: "\(first) \(second) \(i)",
                                      description: "An assistant for \(description).", category: categories[i % categories.count],
                                      tags: [first, second], priceMinor: price, currency: "USD", version: "1.0")
            ids.append(app.id)
        }
        return ids
    }

    /// Makes `count` accounts with one personal token each and writes the tokens to `file`.
    static func writeTokens(_ db: SQLiteConnection, count: Int, label: String, file: String) throws {
        var lines = ""
        for i in 0..<count {
            let user = try User.insert(db, email: "\(label)-\(i)-\(StoreID.make())@bench.example", displayName: "\(label) \(i)",
                                       passwordHash: "!")
            let secret = TokenSecret.make()
            _ = try APIToken.insert(db, userID: user.id, kind: .personal, name: "bench", tokenHash: TokenSecret.hash(secret))
            lines += secret + "\n"
        }
        guard let handle = fopen(file, "w") else { throw StoreError(kind: .sqlite, message: "cannot write \(file)") }
        defer { fclose(handle) }
        guard fputs(lines, handle) >= 0 else { throw StoreError(kind: .sqlite, message: "cannot write \(file)") }
    }
}

/// Deterministic descriptions, so every run searches the same corpus.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
