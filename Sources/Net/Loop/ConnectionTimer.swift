/// The one timer a connection's protocol handler keeps: created on first use, then moved rather
/// than replaced, so a connection costs at most one heap entry and one closure.
struct ConnectionTimer {
    private var timer: LoopTimer?

    /// Fires `action` at `deadline`. With `keepEarlier`, a timer already due sooner is left alone.
    mutating func arm(at deadline: UInt64, on loop: EventLoop, keepEarlier: Bool = false, _ action: @escaping () -> Void) {
        if let timer, timer.callback != nil {
            if keepEarlier && timer.isScheduled && timer.deadline <= deadline { return }
            loop.reschedule(timer, at: deadline)
        } else {
            timer = loop.schedule(at: deadline, action)
        }
    }

    mutating func cancel(on loop: EventLoop) {
        if let timer { loop.cancel(timer) }
        timer = nil
    }
}
