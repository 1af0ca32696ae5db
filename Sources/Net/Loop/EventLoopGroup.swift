import CSystem
import Glibc

/// N event loops, each running on a thread of its own.
public final class EventLoopGroup: Sendable {
    /// The loops, in index order.
    public let loops: [EventLoop]
    private let threads: ThreadList

    /// Creates `count` loops; they run once `start()` is called. Until then, whoever created the group
    /// may register handlers on the loops directly (no loop thread exists yet to race with).
    public init(loopCount: Int) throws(SystemError) {
        var loops: [EventLoop] = []
        for i in 0..<max(1, loopCount) { loops.append(try EventLoop(index: i)) }
        self.loops = loops
        threads = ThreadList()
    }

    /// Starts one thread per loop.
    public func start() throws(SystemError) {
        for loop in loops {
            threads.append(try startThread(name: "loop-\(loop.index)") { loop.run() })
        }
    }

    /// The loop that owns a key, by a stable hash (FNV-1a), so the same key always maps to the same loop.
    public func loop(forKey key: String) -> EventLoop {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return loops[Int(hash % UInt64(loops.count))]
    }

    /// Stops every loop and waits for its thread to end.
    public func shutdown() {
        for loop in loops { loop.stop() }
        threads.joinAll()
    }
}

/// Thread handles, appended during init and joined once at shutdown.
private final class ThreadList: @unchecked Sendable {
    // Invariant: appended to only from EventLoopGroup.start (one thread), joined once from shutdown.
    private var handles: [pthread_t] = []
    func append(_ handle: pthread_t) { handles.append(handle) }
    func joinAll() {
        for handle in handles { pthread_join(handle, nil) }
        handles.removeAll()
    }
}

private final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Starts a joinable pthread running `body`. Used instead of Foundation's Thread to keep Net light.
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) -> pthread_t {
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var handle = pthread_t()
    let rc = pthread_create(&handle, nil, { raw in
        let box = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    guard rc == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(box).release()
        throw SystemError("pthread_create", code: rc)
    }
    _ = pthread_setname_np(handle, String(name.prefix(15)))
    return handle
}
