import Glibc
import Net
import Testing

/// Handing work to a loop from another thread.
@Suite struct EventLoopTests {
    @Test func executeAndWaitRunsTheBodyOnTheLoopThreadAndReturnsItsResult() throws {
        let group = try startedGroup()
        defer { group.shutdown() }
        let loop = group.loops[0]
        #expect(!loop.inLoop)
        let (onLoop, value) = loop.executeAndWait { (loop.inLoop, 6 * 7) }
        #expect(onLoop)
        #expect(value == 42)
        // Tasks already queued run first: the inbox keeps its order.
        let order = Locked<[Int]>([])
        loop.execute { order.withLock { $0.append(1) } }
        loop.executeAndWait { order.withLock { $0.append(2) } }
        #expect(order.withLock { $0 } == [1, 2])
    }
}

/// Work the loop hands to itself, and timers finer than a millisecond.
@Suite struct EventLoopSelfSchedulingTests {
    @Test func tasksTheLoopQueuesForItselfRunOnALaterTurnInOrder() throws {
        let group = try startedGroup()
        defer { group.shutdown() }
        let loop = group.loops[0]
        let log = Locked<[String]>([])
        let done = Locked<Bool>(false)
        loop.execute {
            // Queued from the loop itself: not run inline, and with no other thread to wake the loop
            // these must still run, in the order they were queued, and may queue more.
            loop.execute { log.withLock { $0.append("first") } }
            loop.execute {
                log.withLock { $0.append("second") }
                loop.execute {
                    log.withLock { $0.append("third") }
                    done.withLock { $0 = true }
                }
            }
            log.withLock { $0.append("queued") }
        }
        for _ in 0..<2_000 where !done.withLock({ $0 }) { usleep(1_000) }
        #expect(log.withLock { $0 } == ["queued", "first", "second", "third"])
    }

    @Test func aTimerChainIsNotRoundedUpToWholeMilliseconds() throws {
        // 100 timers, each 100 µs after the previous one fired. epoll_wait's millisecond timeout made
        // every link wait at least 1 ms, so the chain could not finish in under 100 ms; with
        // nanosecond waits it needs about 10 ms plus wake-ups.
        let group = try startedGroup()
        defer { group.shutdown() }
        let loop = group.loops[0]
        let finished = Locked<UInt64?>(nil)
        let links = 100
        let start = loop.executeAndWait { MonotonicClock.now() }
        @Sendable func link(_ remaining: Int) {
            guard remaining > 0 else {
                finished.withLock { $0 = MonotonicClock.now() }
                return
            }
            loop.schedule(after: .microseconds(100)) { link(remaining - 1) }
        }
        loop.execute { link(links) }
        for _ in 0..<5_000 where finished.withLock({ $0 }) == nil { usleep(1_000) }
        let end = try #require(finished.withLock { $0 })
        #expect(end - start >= UInt64(links) * 100_000, "a timer fired before its deadline")
        #expect(end - start < UInt64(links) * 1_000_000, "timers waited for whole milliseconds: \((end - start) / 1_000_000) ms")
    }
}

/// One started loop; the caller shuts the group down.
private func startedGroup() throws -> EventLoopGroup {
    let group = try EventLoopGroup(loopCount: 1)
    try group.start()
    return group
}
