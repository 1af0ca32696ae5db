import CSystem
import Glibc
import Net

/// Timestamps for round-trip latency at the cost of a register read: the TSC, converted to
/// nanoseconds with a rate measured against CLOCK_MONOTONIC at start-up. Two clock_gettime calls per
/// message (each a system call on this VM) made the load generator, not the server, the bottleneck.
enum CycleClock {
    /// Nanoseconds per counter tick.
    static let nanosecondsPerTick: Double = {
        let startTicks = csystem_cycle_counter()
        let startNanos = MonotonicClock.now()
        usleep(100_000)
        let ticks = csystem_cycle_counter() &- startTicks
        let nanos = MonotonicClock.now() &- startNanos
        return ticks == 0 ? 1 : Double(nanos) / Double(ticks)
    }()

    @inline(__always)
    static func now() -> UInt64 { csystem_cycle_counter() }

    /// Converts a tick difference to tenths of a microsecond, the unit latencies are kept in.
    @inline(__always)
    static func tenthsOfMicroseconds(_ ticks: UInt64) -> UInt32 {
        UInt32(min(Double(ticks) * nanosecondsPerTick / 100, Double(UInt32.max)))
    }
}

/// CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID), in nanoseconds: the cost of a
/// loop or reader thread apart from the rest of the process.
func threadCPUNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
