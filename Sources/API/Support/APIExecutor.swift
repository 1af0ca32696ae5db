import Dispatch

/// Where the API's deferred handlers run: their own GCD queue instead of Swift's shared cooperative
/// pool. That pool has one thread per core; anything else that blocks one of them (a synchronous
/// caller, a test waiting on curl) would otherwise stall every write the API makes.
final class APIExecutor: TaskExecutor, @unchecked Sendable {
    // Invariant: immutable; DispatchQueue is thread-safe.
    private let queue = DispatchQueue(label: "builderai.api", qos: .userInitiated, attributes: .concurrent)

    static let shared = APIExecutor()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
