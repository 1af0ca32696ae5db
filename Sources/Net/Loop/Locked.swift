import Glibc

/// A value behind a pthread mutex.
///
/// Synchronization's `Mutex` would do, but on Linux it is built on raw futex calls that
/// ThreadSanitizer cannot see, so every use shows up as a race; a pthread mutex is intercepted and
/// checked. Keep critical sections short: loops take this lock on every cross-thread hand-over.
public final class Locked<Value>: @unchecked Sendable {
    // Invariant: `value` is read and written only between pthread_mutex_lock and unlock of `mutex`.
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
