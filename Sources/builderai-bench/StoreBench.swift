import Dispatch
import Glibc
import Net
import Store
import Synchronization

/// `crash-writer` and `store` modes: the database side of the benchmarks and the crash test.
enum StoreBench {
    /// Sets up one user, project and conversation per producer with plain SQL, returning the
    /// conversation ids.
    static func seed(_ store: Store, producers: Int) throws -> [String] {
        try store.writer.writeAndWait { db in
            let now = StoreClock.nowMilliseconds()
            let user = StoreID.make()
            try db.run("INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                       [user, "bench-\(user)@example.com", "bench", "x", now, now])
            let project = StoreID.make()
            try db.run("INSERT INTO projects (id, owner_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                       [project, user, "bench", now, now])
            var conversations: [String] = []
            for _ in 0..<producers {
                let id = StoreID.make()
                try db.run("INSERT INTO conversations (id, project_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
                           [id, project, now, now])
                conversations.append(id)
            }
            return conversations
        }
    }

    /// One message insert as the chat engine does it (`Message.append`); returns the message id.
    @discardableResult
    static func insertMessage(_ db: SQLiteConnection, conversation: String, text: String) throws -> String {
        try Message.append(db, conversationID: conversation, role: .user, content: text).message.id
    }

    /// Writes messages as fast as the writer takes them and prints each id once its commit is
    /// acknowledged, until killed. The crash test SIGKILLs it and checks every printed id survived.
    static func crashWriter(dataDir: String, producers: Int) -> Never {
        do {
            let store = try Store(directory: dataDir, durability: .normal)
            let conversations = try seed(store, producers: producers)
            let printed = Atomic<Int>(0)
            for (index, conversation) in conversations.enumerated() {
                _ = startThreadOrDie("producer-\(index)") {
                    while true {
                        do {
                            try store.writer.submit({ db in
                                try insertMessage(db, conversation: conversation, text: "crash test")
                            }, deadline: MonotonicClock.now() + 1_000_000_000) { result in
                                guard case .success(let id) = result else { return }
                                let line = Array("\(id)\n".utf8)
                                // One write per line, from the writer thread, after the commit.
                                _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
                                printed.add(1, ordering: .relaxed)
                            }
                        } catch {
                            usleep(1_000)
                        }
                    }
                }
            }
            while true { sleep(60) }
        } catch {
            printError("crash writer: \(error)")
            exit(70)
        }
    }

    /// Insert throughput and enqueue-to-acknowledgement latency as the server sees it: `producers`
    /// logical writers (conversations) spread over `loops` event loops, each keeping `inFlight` writes
    /// outstanding. Completions hop back to the producer's loop with `loop.execute`, as request
    /// handlers do, so a commit wakes each loop once rather than every waiting producer.
    /// `ownerNumbered`: producers number their messages themselves (`Message.insert`), as the chat
    /// engine does; otherwise `Message.append` takes the number in SQL.
    static func writeBenchmark(dataDir: String, producers: Int, inFlight: Int, seconds: Double, loops: Int,
                               ownerNumbered: Bool) -> Never {
        do {
            let store = try Store(directory: dataDir, durability: .normal)
            let conversations = try seed(store, producers: producers)
            let group = try EventLoopGroup(loopCount: loops)
            try group.start()
            let states = group.loops.map { ProducerLoopState(loop: $0) }
            let flags = RunFlags()
            for (index, conversation) in conversations.enumerated() {
                let state = states[index % states.count]
                state.loop.execute {
                    for _ in 0..<inFlight {
                        state.submit(store: store, conversation: conversation, ownerNumbered: ownerNumbered, flags: flags)
                    }
                }
            }
            usleep(1_000_000)
            flags.measuring.store(true, ordering: .relaxed)
            let writesBefore = store.writer.committedWrites
            let commitsBefore = store.writer.commits
            usleep(UInt32(seconds * 1_000_000))
            flags.measuring.store(false, ordering: .relaxed)
            let writes = store.writer.committedWrites - writesBefore
            let commits = store.writer.commits - commitsBefore
            flags.stopping.store(true, ordering: .relaxed)
            usleep(200_000)
            var all: [UInt32] = []
            for state in states {
                state.loop.executeAndWait { state.collect() }
                all += state.collected.withLock { $0 }
            }
            group.shutdown()
            let sorted = all.sorted()
            let rate = Double(sorted.count) / seconds
            print("| \(ownerNumbered ? "insert" : "append") | \(producers) | \(loops) | \(inFlight) | \(Int(rate)) | "
                + "\(format2(percentile(sorted, 0.50))) | \(format2(percentile(sorted, 0.99))) | "
                + "\(format2(Double(writes) / Double(max(commits, 1)))) |")
            let checkpointing = store.writer.checkpointing
            printError("store-write: the writer ran \(checkpointing.writerCheckpoints) checkpoints (longest "
                + "\(format2(Double(checkpointing.longestWriterCheckpointNanoseconds) / 1e6)) ms); WAL file "
                + "\(fileSize(store.path + "-wal") / 1_048_576) MiB")
            store.close()
            exit(0)
        } catch {
            printError("store benchmark: \(error)")
            exit(70)
        }
    }

    /// Fills a database with `total` messages over many conversations (in large transactions), then
    /// times reads of a random conversation's last 100 messages on one loop reader.
    static func readBenchmark(dataDir: String, total: Int, reads: Int) -> Never {
        do {
            let store = try Store(directory: dataDir, durability: .normal, loopCount: 1)
            let perConversation = 1_000
            let conversations = try seed(store, producers: max(1, total / perConversation))
            var inserted = 0
            while inserted < total {
                let chunk = min(50_000, total - inserted)
                let start = inserted
                try store.writer.writeAndWait { db in
                    for i in start..<(start + chunk) {
                        try insertMessage(db, conversation: conversations[i % conversations.count],
                                          text: "message \(i) with a little text in it")
                    }
                }
                inserted += chunk
            }
            // Twice: right after the bulk load, while the last inserts are still in a WAL of hundreds
            // of MB (each page lookup searches its index), and after a checkpoint has copied it into
            // the database file, the state a running server's checkpointer keeps the database in.
            func measure(_ state: String) throws {
                var timings: [UInt32] = []
                var rng = SystemRandomNumberGenerator()
                for _ in 0..<reads {
                    let conversation = conversations[Int.random(in: 0..<conversations.count, using: &rng)]
                    let start = MonotonicClock.now()
                    let rows = try store.readers.read(loop: 0) { db in
                        try Message.last(db, conversationID: conversation, limit: 100)
                    }
                    timings.append(UInt32((MonotonicClock.now() - start) / 100))
                    guard rows.count == 100 else { throw StoreError(kind: .sqlite, message: "expected 100 rows, got \(rows.count)") }
                }
                timings.sort()
                print("| last 100 of a conversation, \(state) | \(total) messages | \(format2(percentile(timings, 0.50))) | \(format2(percentile(timings, 0.99))) | \(format2(percentile(timings, 0.999))) |")
            }
            try measure("WAL not yet checkpointed")
            let checkpoint = try SQLiteConnection(path: store.path)
            _ = try checkpoint.queryOne("PRAGMA wal_checkpoint(TRUNCATE)") { $0.int(0) }
            try measure("after a checkpoint")
            store.close()
            exit(0)
        } catch {
            printError("read benchmark: \(error)")
            exit(70)
        }
    }

    static func startThreadOrDie(_ name: String, _ body: @escaping @Sendable () -> Void) -> pthread_t {
        do { return try startThread(name: name, body) } catch { die("\(error)") }
    }
}

/// One loop's producers: their sequence counters and latencies, touched only on that loop.
final class ProducerLoopState: @unchecked Sendable {
    // Invariant: everything but `collected` is used only on `loop`'s thread; `collected` is locked.
    let loop: EventLoop
    private var latencies: [UInt32] = []
    private var seqs: [String: Int] = [:]
    let collected = Locked<[UInt32]>([])

    init(loop: EventLoop) {
        self.loop = loop
        latencies.reserveCapacity(1 << 20)
    }

    func submit(store: Store, conversation: String, ownerNumbered: Bool, flags: RunFlags) {
        guard !flags.stopping.load(ordering: .relaxed) else { return }
        let seq = (seqs[conversation] ?? 0) + 1
        seqs[conversation] = seq
        let start = CycleClock.now()
        let text = "a benchmark message of typical chat length"
        do {
            try store.writer.submit({ db in
                if ownerNumbered {
                    try Message.insert(db, conversationID: conversation, seq: seq, role: .user, content: text)
                } else {
                    try StoreBench.insertMessage(db, conversation: conversation, text: text)
                }
            }) { _ in
                self.loop.execute {
                    if flags.measuring.load(ordering: .relaxed) {
                        self.latencies.append(CycleClock.tenthsOfMicroseconds(CycleClock.now() &- start))
                    }
                    self.submit(store: store, conversation: conversation, ownerNumbered: ownerNumbered, flags: flags)
                }
            }
        } catch {
            // Queue full: try again shortly, as a request handler would after a 503.
            seqs[conversation] = seq - 1
            loop.schedule(after: .milliseconds(1)) {
                self.submit(store: store, conversation: conversation, ownerNumbered: ownerNumbered, flags: flags)
            }
        }
    }

    func collect() {
        let mine = latencies
        collected.withLock { $0 = mine }
    }
}

/// Phase flags shared by the driver and the loops.
final class RunFlags: Sendable {
    let measuring = Atomic<Bool>(false)
    let stopping = Atomic<Bool>(false)
}

/// A file's size in bytes (0 when it cannot be read).
private func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
}
