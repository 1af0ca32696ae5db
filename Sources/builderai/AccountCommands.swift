import API
import Glibc
import Net
import Store

/// `builderai user create`, `token create` and `project create`: what an operator needs on a new
/// install before the REST API has an admin to call it (and what scripts and tests use to seed).
func accountCommand(_ noun: String, _ arguments: [String]) -> Never {
    var arguments = arguments
    let verb = arguments.isEmpty ? "" : arguments.removeFirst()
    guard verb == "create" else { fail("usage: builderai \(noun) create …; see 'builderai --help'", code: 64) }
    var flags: [String: String] = [:]
    var admin = false
    var passwordFromStdin = false
    var dataDir = environment()["BUILDERAI_DATA_DIR"] ?? "data"
    var index = 0
    while index < arguments.count {
        let flag = arguments[index]
        if flag == "--admin" && noun == "user" {
            admin = true
        } else if flag == "--password-stdin" && noun == "user" {
            passwordFromStdin = true
        } else if ["--email", "--name", "--model", "--mcp", "--data-dir", "--description"].contains(flag) {
            index += 1
            guard index < arguments.count else { fail("\(flag) needs a value", code: 64) }
            if flag == "--data-dir" { dataDir = arguments[index] } else { flags[flag] = arguments[index] }
        } else {
            fail("unknown option '\(flag)' for '\(noun) create'", code: 64)
        }
        index += 1
    }
    guard let email = flags["--email"], !email.isEmpty else { fail("\(noun) create needs --email", code: 64) }
    do {
        try Store.createDirectory(dataDir)
        let db = try SQLiteConnection(path: Maintenance.databasePath(inDirectory: dataDir))
        try Migrator.migrate(db)
        switch noun {
        case "user":
            guard let name = flags["--name"], !name.isEmpty else { fail("user create needs --name", code: 64) }
            // Without a password, "!" matches no hash: password login stays off and tokens are the way in.
            var hash = "!"
            if passwordFromStdin {
                guard let line = readLine(strippingNewline: true), line.count >= 10 else {
                    fail("--password-stdin needs a password of at least 10 characters on standard input", code: 64)
                }
                hash = PasswordHasher().hashNow(line)
            }
            let user = try User.insert(db, email: email, displayName: name, passwordHash: hash, role: admin ? .admin : .user)
            print(user.id)
        case "token":
            guard let user = try User.find(db, email: email) else { fail("no account with email \(email)", code: 66) }
            let secret = TokenSecret.make()
            _ = try APIToken.insert(db, userID: user.id, kind: .personal, name: flags["--name"] ?? "cli",
                                    tokenHash: TokenSecret.hash(secret))
            print(secret)
        default:
            guard let name = flags["--name"], !name.isEmpty else { fail("project create needs --name", code: 64) }
            guard let user = try User.find(db, email: email) else { fail("no account with email \(email)", code: 66) }
            let project = try Project.create(db, ownerID: user.id, name: name, description: flags["--description"] ?? "",
                                             llm: flags["--model"] ?? "default")
            if let servers = flags["--mcp"] {
                let list = JSONValue.array(servers.split(separator: ",").map { .string(String($0)) })
                _ = try ProjectConfig.set(db, projectID: project.id, mcpServersJSON: list.serializedString)
            }
            print(project.id)
        }
        exit(0)
    } catch let error as StoreError where error.kind == .uniqueViolation {
        fail("\(noun) already exists: \(error.message)", code: 65)
    } catch {
        fail("\(noun) create failed: \(error)", code: 70)
    }
}
