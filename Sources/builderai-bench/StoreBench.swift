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

    /// Insert throughput and enqueue-to-acknowledgement latency with `producers` threads, each keeping
    /// `inFlight` writes outstanding (1: submit, wait for the acknowledgement, repeat).
    static func writeBenchmark(dataDir: String, producers: Int, inFlight: Int, seconds: Double) -> Never {
        do {
            let store = try Store(directory: dataDir, durability: .normal)
            let conversations = try seed(store, producers: producers)
            let latencies = Locked<[UInt32]>([])
            let stop = Atomic<Bool>(false)
            let measuring = Atomic<Bool>(false)
            let completed = Atomic<Int>(0)
            var threads: [pthread_t] = []
            for (index, conversation) in conversations.enumerated() {
                threads.append(startThreadOrDie("producer-\(index)") {
                    // A completion frees a slot. Blocking on the semaphore (not polling) leaves the
                    // cores to the writer.
                    let slots = DispatchSemaphore(value: inFlight)
                    let mine = Locked<[UInt32]>([])
                    while !stop.load(ordering: .relaxed) {
                        slots.wait()
                        let start = MonotonicClock.now()
                        do {
                            try store.writer.submit({ db in
                                try insertMessage(db, conversation: conversation, text: "a benchmark message of typical chat length")
                            }, deadline: start + 5_000_000_000) { _ in
                                if measuring.load(ordering: .relaxed) {
                                    completed.add(1, ordering: .relaxed)
                                    let micros = UInt32(min((MonotonicClock.now() - start) / 100, UInt64(UInt32.max)))
                                    mine.withLock { $0.append(micros) }
                                }
                                slots.signal()
                            }
                        } catch {
                            slots.signal()
                        }
                    }
                    // Wait for the last writes, then give the slots back: libdispatch traps when a
                    // semaphore is freed below its initial value.
                    for _ in 0..<inFlight { slots.wait() }
                    for _ in 0..<inFlight { slots.signal() }
                    let local = mine.withLock { $0 }
                    latencies.withLock { $0.append(contentsOf: local) }
                })
            }
            usleep(1_000_000)
            measuring.store(true, ordering: .relaxed)
            let writesBefore = store.writer.committedWrites
            let commitsBefore = store.writer.commits
            usleep(UInt32(seconds * 1_000_000))
            measuring.store(false, ordering: .relaxed)
            let writes = store.writer.committedWrites - writesBefore
            let commits = store.writer.commits - commitsBefore
            stop.store(true, ordering: .relaxed)
            for thread in threads { pthread_join(thread, nil) }
            let sorted = latencies.withLock { $0 }.sorted()
            let rate = Double(completed.load(ordering: .relaxed)) / seconds
            print("| \(producers) | \(inFlight) | \(Int(rate)) | \(format2(percentile(sorted, 0.50))) | \(format2(percentile(sorted, 0.99))) | "
                + "\(format2(Double(writes) / Double(max(commits, 1)))) |")
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
            print("| last 100 of a conversation | \(total) messages | \(format2(percentile(timings, 0.50))) | \(format2(percentile(timings, 0.99))) | \(format2(percentile(timings, 0.999))) |")
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
