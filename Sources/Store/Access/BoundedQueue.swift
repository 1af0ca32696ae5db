import CSystem
import Glibc

/// A bounded multi-producer queue that one or more consumer threads drain in batches.
///
/// pthread mutex and condition variables rather than Swift's Mutex: consumers must sleep until work
/// arrives, and ThreadSanitizer understands pthreads.
final class BoundedQueue<Item>: @unchecked Sendable {
    // Invariant: `items`, `head` and `closed` are touched only while `mutex` is held.
    private var items: [Item] = []
    private var head = 0
    private var closed = false
    private let capacity: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let notEmpty = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let notFull = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(capacity: Int) {
        self.capacity = capacity
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(notEmpty, &attributes)
        pthread_cond_init(notFull, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(notEmpty)
        pthread_cond_destroy(notFull)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        notEmpty.deallocate()
        notFull.deallocate()
    }

    /// Items waiting right now.
    var count: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return items.count - head
    }

    enum PushResult { case accepted, full, closed }

    /// Appends `item`. When full: fails at once if `deadline` is nil, else waits until the monotonic
    /// clock reaches `deadline` (nanoseconds) for room.
    func push(_ item: Item, deadline: UInt64?) -> PushResult {
        pthread_mutex_lock(mutex)
        while !closed && items.count - head >= capacity {
            guard let deadline else { return unlock(returning: .full) }
            var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
            if pthread_cond_timedwait(notFull, mutex, &ts) == ETIMEDOUT && items.count - head >= capacity {
                return unlock(returning: .full)
            }
        }
        if closed { return unlock(returning: .closed) }
        items.append(item)
        pthread_mutex_unlock(mutex)
        // Signalled after unlocking: a consumer woken while the mutex is still held (on the same core
        // it may preempt the producer at once) would only block on the mutex and switch back.
        pthread_cond_signal(notEmpty)
        return .accepted
    }

    private func unlock(returning result: PushResult) -> PushResult {
        pthread_mutex_unlock(mutex)
        return result
    }

    /// Waits for at least one item and takes up to `limit`; nil once closed and drained.
    func popBatch(limit: Int) -> [Item]? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while items.count - head == 0 {
            if closed { return nil }
            pthread_cond_wait(notEmpty, mutex)
        }
        let end = min(items.count, head + limit)
        let batch = Array(items[head..<end])
        head = end
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 4096 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        pthread_cond_broadcast(notFull)
        return batch
    }

    /// Refuses new items; consumers drain what is queued, then get nil.
    func close() {
        pthread_mutex_lock(mutex)
        closed = true
        pthread_cond_broadcast(notEmpty)
        pthread_cond_broadcast(notFull)
        pthread_mutex_unlock(mutex)
    }
}

/// Starts a joinable pthread (Store does not depend on Net, which has the same helper for loops).
func startStoreThread(name: String, _ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box {
        // Named so that profiles and `top -H` tell the writer, checkpointer and readers apart.
        _ = pthread_setname_np(pthread_self(), String(name.prefix(15)))
        body()
    }).toOpaque()
    var handle = pthread_t()
    let rc = pthread_create(&handle, nil, { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create failed (\(rc)): the process is out of threads")
    return handle
}

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
