import CSystem
import Dispatch
import Glibc
import Synchronization

/// Something registered with an event loop that reacts to readiness of one file descriptor.
public protocol IOHandler: AnyObject {
    /// Called on the loop thread with the epoll event bits.
    func handleIO(events: UInt32)
}

/// A handler the loop asks to wind down when the server shuts down gracefully.
public protocol GracefulShutdown: AnyObject {
    /// Begin closing: finish in-flight work, refuse new work. Called on the loop thread.
    func beginShutdown()
}

/// One thread, one epoll instance, one timer heap, one task inbox.
///
/// Everything registered with a loop is touched only on that loop's thread. Other threads hand
/// work over with `execute`, which appends to a locked inbox and wakes the loop through an eventfd
/// (one write per batch: only the append that finds the inbox empty writes).
public final class EventLoop: @unchecked Sendable {
    // Invariant: all stored properties except `inbox`, `thread`, `index`, `epollFD` and `wakeFD` are
    // read and written only on the loop thread; `inbox` is guarded by its mutex, `thread` is atomic;
    // the rest are immutable.

    /// Position of this loop in its group, stable for its life.
    public let index: Int
    let epollFD: Int32
    private let wakeFD: Int32
    private let inbox = Locked<[@Sendable () -> Void]>([])

    private var handlers: [(any IOHandler)?] = []
    private var tokens: [UInt32] = []
    private var nextToken: UInt32 = 1
    private var timers = TimerHeap()
    private var running = false
    /// The thread running `run()` (0 before): atomic because `inLoop` reads it from any thread.
    private let thread = Atomic<UInt>(0)
    private var events: UnsafeMutablePointer<epoll_event>
    private let maxEvents = 256

    /// After an iteration that handled events, keep polling without sleeping for this long. Waking a
    /// sleeping thread costs tens of microseconds on virtual machines; a busy server saves that on
    /// every batch, and an idle one stops spinning after this window.
    public var busyPoll: Duration = .zero
    private var spinUntil: UInt64 = 0
    /// Set when the loop queued a task for itself (`execute` on the loop thread): the next wait must
    /// not sleep, and the inbox is drained without an eventfd wake-up.
    private var tasksQueuedFromLoop = false
    /// False once epoll_pwait2 reported ENOSYS (kernels before 5.11).
    private var preciseWaitAvailable = true

    /// Monotonic nanoseconds, refreshed after every wait; cheap to read from handlers.
    public private(set) var now: UInt64 = MonotonicClock.now()

    /// Scratch for reads: each read lands here first, so idle connections own no input buffer.
    public let readBuffer: UnsafeMutableRawBufferPointer
    /// Scratch for output built while a connection processes its input (see `Connection`).
    var outputScratch: [UInt8] = []

    /// Cached `Date` header value, recomputed once per second.
    public private(set) var httpDate: String = ""
    private var nextDateRefresh: UInt64 = 0

    /// Creates a loop. It does nothing until `run()` is called on some thread.
    public init(index: Int) throws(SystemError) {
        self.index = index
        let ep = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard ep >= 0 else { throw SystemError("epoll_create1") }
        let wake = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wake >= 0 else {
            Glibc.close(ep)
            throw SystemError("eventfd")
        }
        epollFD = ep
        wakeFD = wake
        events = .allocate(capacity: maxEvents)
        readBuffer = .allocate(byteCount: 256 * 1024, alignment: 16)
        outputScratch.reserveCapacity(256 * 1024)
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.u64 = UInt64(UInt32(bitPattern: wake))
        epoll_ctl(ep, EPOLL_CTL_ADD, wake, &ev)
        refreshDate()
    }

    deinit {
        Glibc.close(epollFD)
        Glibc.close(wakeFD)
        events.deallocate()
        readBuffer.deallocate()
    }

    /// True when called on this loop's thread.
    public var inLoop: Bool {
        let running = thread.load(ordering: .acquiring)
        return running != 0 && pthread_equal(running, pthread_self()) != 0
    }

    // MARK: Tasks from other threads

    /// Runs `task` on the loop thread, soon. Safe from any thread.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        if inLoop {
            // From the loop itself: no eventfd round trip (a write, an epoll_wait and a read); the
            // next turn polls without sleeping and drains the inbox.
            inbox.withLock { $0.append(task) }
            tasksQueuedFromLoop = true
            return
        }
        let wasEmpty = inbox.withLock { queue in
            queue.append(task)
            return queue.count == 1
        }
        if wasEmpty { wake() }
    }

    /// Runs `body` on the loop thread and blocks the calling thread until it has, returning its
    /// result. For start-up, shutdown, tools and tests, never from the loop itself (it would wait for
    /// itself forever, so that traps).
    public func executeAndWait<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        precondition(!inLoop, "executeAndWait called on the loop's own thread")
        let result = Locked<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        execute {
            result.withLock { $0 = body() }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    private func drainInbox(woken: Bool) {
        if woken {
            var value: UInt64 = 0
            _ = Glibc.read(wakeFD, &value, 8)
        }
        tasksQueuedFromLoop = false
        let tasks = inbox.withLock { queue in
            let taken = queue
            queue.removeAll(keepingCapacity: true)
            return taken
        }
        for task in tasks { task() }
    }

    // MARK: File descriptors

    /// Registers `fd` for `events`; the handler is held strongly until `deregister`.
    public func register(_ fd: Int32, events: UInt32, handler: any IOHandler) throws(SystemError) {
        let slot = Int(fd)
        if slot >= handlers.count {
            let newCount = max(slot + 1, handlers.count * 2, 64)
            handlers.append(contentsOf: repeatElement(nil, count: newCount - handlers.count))
            tokens.append(contentsOf: repeatElement(0, count: newCount - tokens.count))
        }
        let token = nextToken
        nextToken &+= 1
        if nextToken == 0 { nextToken = 1 }
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = UInt64(token) << 32 | UInt64(UInt32(bitPattern: fd))
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev) == 0 else { throw SystemError("epoll_ctl(ADD)") }
        handlers[slot] = handler
        tokens[slot] = token
    }

    /// Changes the events watched for an fd already registered.
    public func modify(_ fd: Int32, events: UInt32) {
        let slot = Int(fd)
        guard slot < tokens.count, handlers[slot] != nil else { return }
        var ev = epoll_event()
        ev.events = events
        ev.data.u64 = UInt64(tokens[slot]) << 32 | UInt64(UInt32(bitPattern: fd))
        epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &ev)
    }

    /// Replaces the handler of a registered fd (used when HTTP upgrades to WebSocket).
    public func replaceHandler(_ fd: Int32, with handler: any IOHandler) {
        let slot = Int(fd)
        guard slot < handlers.count, handlers[slot] != nil else { return }
        handlers[slot] = handler
    }

    /// Stops watching `fd`. Events already returned for it in this batch are dropped by token.
    public func deregister(_ fd: Int32) {
        let slot = Int(fd)
        guard slot < handlers.count, handlers[slot] != nil else { return }
        epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
        handlers[slot] = nil
        tokens[slot] = 0
    }

    /// Every registered handler, for shutdown.
    func forEachHandler(_ body: (any IOHandler) -> Void) {
        for case let handler? in handlers { body(handler) }
    }

    // MARK: Timers

    /// Calls `body` on this loop once `delay` has passed, unless the returned timer is cancelled.
    @discardableResult
    public func schedule(after delay: Duration, _ body: @escaping () -> Void) -> LoopTimer {
        schedule(at: now &+ delay.nanoseconds, body)
    }

    /// Calls `body` once the monotonic clock reaches `deadline`.
    @discardableResult
    public func schedule(at deadline: UInt64, _ body: @escaping () -> Void) -> LoopTimer {
        let timer = LoopTimer(deadline: deadline, callback: body)
        timers.insert(timer)
        return timer
    }

    /// Moves a timer (scheduled or not) to a new deadline, reusing its callback.
    public func reschedule(_ timer: LoopTimer, at deadline: UInt64) {
        if timer.isScheduled { timers.remove(timer) }
        guard timer.callback != nil else { return }
        timer.deadline = deadline
        timers.insert(timer)
    }

    /// Cancels a timer; its callback is released so that it holds nothing alive.
    public func cancel(_ timer: LoopTimer) {
        timers.remove(timer)
        timer.callback = nil
    }

    private func fireTimers() {
        while let timer = timers.popExpired(now: now) {
            guard let callback = timer.callback else { continue }
            timer.callback = nil
            callback()
        }
    }

    /// Timers wake the loop on a grid of this many nanoseconds: a timer fires at most this late, and
    /// timers due within one step share a wake-up. Exact deadlines cost ~15% more CPU in the chat
    /// benchmarks (a thousand connection timers, each its own wake-up); whole milliseconds made
    /// timers fire in 1 ms bursts.
    static let timerGranularity: UInt64 = 250_000

    /// Nanoseconds until the grid step at or after the earliest timer (at most a minute), 0 if one
    /// is due, -1 if there is none.
    private func waitTimeoutNanoseconds() -> Int64 {
        guard let earliest = timers.earliest else { return -1 }
        if earliest <= now { return 0 }
        let step = EventLoop.timerGranularity
        let wakeAt = earliest % step == 0 ? earliest : (earliest / step + 1) &* step
        return Int64(min(wakeAt - now, 60_000_000_000))
    }

    /// Waits for events until `timeout` nanoseconds (-1: no limit) pass: epoll_pwait2 where the
    /// kernel has it (5.11+), else epoll_wait with the timeout rounded up to whole milliseconds.
    private func waitForEvents(timeout: Int64) -> Int32 {
        if preciseWaitAvailable {
            let n = csystem_epoll_wait_nanoseconds(epollFD, events, Int32(maxEvents), timeout)
            if n >= 0 || errno != ENOSYS { return n }
            preciseWaitAvailable = false
        }
        let milliseconds = timeout < 0 ? -1 : Int32((timeout + 999_999) / 1_000_000)
        return epoll_wait(epollFD, events, Int32(maxEvents), milliseconds)
    }

    // MARK: Running

    /// Runs the loop on the calling thread until `stop()`.
    public func run() {
        thread.store(pthread_self(), ordering: .releasing)
        running = true
        while running {
            let n = waitForEvents(timeout: spinUntil > now || tasksQueuedFromLoop ? 0 : waitTimeoutNanoseconds())
            now = MonotonicClock.now()
            if n > 0 && busyPoll > .zero { spinUntil = now &+ busyPoll.nanoseconds }
            if n < 0 {
                if errno == EINTR { continue }
                Log.error("epoll_wait failed", ["errno": String(errno)])
                break
            }
            refreshDateIfNeeded()
            var wokenUp = false
            for i in 0..<Int(n) {
                let data = events[i].data.u64
                let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: data))
                if fd == wakeFD {
                    wokenUp = true
                    continue
                }
                let slot = Int(fd)
                guard slot < handlers.count, let handler = handlers[slot],
                      tokens[slot] == UInt32(truncatingIfNeeded: data >> 32) else { continue }
                handler.handleIO(events: events[i].events)
            }
            if wokenUp || tasksQueuedFromLoop { drainInbox(woken: wokenUp) }
            fireTimers()
        }
        // Release handlers and timers so that their cycles break once the loop is done.
        for case let handler? in handlers {
            (handler as? any LoopTeardown)?.teardown()
        }
        handlers.removeAll()
        while let timer = timers.popExpired(now: .max) { timer.callback = nil }
    }

    /// Ends `run()` after the current iteration. Safe from any thread.
    public func stop() {
        execute { [unowned self] in self.running = false }
    }

    private func refreshDateIfNeeded() {
        // Checked against the monotonic reading we already have: on some VMs every clock read is a
        // system call, so the wall clock is read only when the next second is due.
        if now >= nextDateRefresh { refreshDate() }
    }

    private func refreshDate() {
        let (seconds, nanoseconds) = MonotonicClock.wallClock()
        httpDate = HTTPDate.format(secondsSinceEpoch: seconds)
        nextDateRefresh = now &+ UInt64(1_000_000_000 - nanoseconds)
    }
}

/// Handlers that must release resources when their loop ends without a graceful close.
protocol LoopTeardown: AnyObject {
    func teardown()
}
