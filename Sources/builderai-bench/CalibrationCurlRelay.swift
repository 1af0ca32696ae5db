import CCurl
import CSystem
import Glibc
import Net

/// `calibrate-curl-relay`: the LLM relay's pattern (issue 4) through libcurl and nothing else, the
/// least any relay built on libcurl's multi interface can cost. A writer thread on one core answers
/// each stream's request and then writes chunked SSE events like an OpenAI stream, one per interval
/// at a random fixed phase per stream, each carrying the TSC at its write; the reader thread on the
/// other core drives one curl multi handle with epoll (`CURLMOPT_SOCKETFUNCTION`/`TIMERFUNCTION`, as
/// `HTTPClient` does) and its write callback only pulls the stamp out: no SSE or JSON parsing, no
/// events, no timers of its own. Set beside `calibrate-relay` (raw reads) and `llm-stream` (the whole
/// router), it splits a chunk's cost into kernel, libcurl and ours.
extension CalibrationBench {
    /// The reader's state, reached from curl's C callbacks through their userdata pointer; used only
    /// on the reader thread.
    final class CurlReader {
        let epfd: Int32
        /// When curl's one-shot timer is due (MonotonicClock nanoseconds), or .max when it has none.
        var timerDue = UInt64.max
        var latencies: UnsafeMutablePointer<UInt64>
        var recorded = 0
        let capacity: Int
        var badChunks = 0

        init(epfd: Int32, capacity: Int) {
            self.epfd = epfd
            self.capacity = capacity
            latencies = .allocate(capacity: capacity)
        }

        /// One body delivery from curl: every "t=" stamp in it (a delivery may hold several events).
        func deliver(_ data: UnsafeRawBufferPointer, now: UInt64) {
            let bytes = data.bindMemory(to: UInt8.self)
            var i = 0
            var found = false
            while i + 2 < bytes.count {
                if bytes[i] == UInt8(ascii: "t") && bytes[i + 1] == UInt8(ascii: "=") {
                    var stamp: UInt64 = 0
                    var j = i + 2
                    while j < bytes.count, bytes[j] >= 48, bytes[j] <= 57 {
                        stamp = stamp &* 10 &+ UInt64(bytes[j] - 48)
                        j += 1
                    }
                    if recorded < capacity {
                        latencies[recorded] = now > stamp ? now &- stamp : 0
                        recorded += 1
                    }
                    found = true
                    i = j
                } else {
                    i += 1
                }
            }
            if !found { badChunks += 1 }
        }
    }

    static func curlRelay(streams: Int, intervalMilliseconds: Int, chunks: Int, readerCore: Int32, writerCore: Int32) -> Never {
        _ = CycleClock.nanosecondsPerTick  // calibrated before the writer starts: the first use sleeps 100 ms
        guard curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK else { fail("curl_global_init failed") }
        let limit = Socket.raiseOpenFileLimit()
        guard limit >= 2 * streams + 16 else { fail("\(streams) streams need \(2 * streams + 16) open files; the limit is \(limit)") }
        let listener: Int32
        let port: Int
        do {
            listener = try Socket.listen(on: try SocketAddress(host: "127.0.0.1", port: 0))
            port = Socket.localAddress(listener)!.port
        } catch {
            fail("cannot listen on 127.0.0.1: \(error)")
        }
        pin(readerCore)
        let writer = startPinned("calib-curl-writer", core: writerCore) {
            // Socket.listen made the listener non-blocking; the writer wants to block in accept.
            _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) & ~O_NONBLOCK)
            var targets: [Int32] = []
            var one: Int32 = 1
            var request = [UInt8](repeating: 0, count: 4096)
            let head = Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            while targets.count < streams {
                let fd = accept4(listener, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
                guard fd >= 0 else {
                    if errno == EINTR || errno == EAGAIN { continue }
                    fail("accept (errno \(errno))")
                }
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(4))
                // A GET with no body: the request ends at its blank line.
                var have = 0
                while !(have >= 4 && request[have - 4] == 13 && request[have - 3] == 10 && request[have - 2] == 13 && request[have - 1] == 10) {
                    let n = request.withUnsafeMutableBytes { csystem_recv(fd, $0.baseAddress! + have, $0.count - have) }
                    guard n > 0, have + n < request.count else { fail("bad request from curl") }
                    have += n
                }
                guard head.withUnsafeBytes({ csystem_send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == head.count else {
                    fail("short send of the response head")
                }
                targets.append(fd)
            }
            // One OpenAI-style event per chunk; the stamp has a fixed width so every chunk is alike.
            func event(_ stamp: UInt64) -> [UInt8] {
                let digits = String(stamp)
                let padded = String(repeating: "0", count: max(0, 20 - digits.count)) + digits
                let data = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t=\(padded)\"},\"finish_reason\":null}]}\n\n"
                return Array((String(data.utf8.count, radix: 16) + "\r\n" + data + "\r\n").utf8)
            }
            var message = event(0)
            let stampOffset = message.firstRange(of: Array("t=".utf8))!.upperBound
            let end = Array("0\r\n\r\n".utf8)
            pacedWrites(streams: streams, intervalMilliseconds: intervalMilliseconds, chunks: chunks, write: { i in
                // Write the stamp's 20 digits in place.
                var stamp = csystem_cycle_counter()
                for d in stride(from: stampOffset + 19, through: stampOffset, by: -1) {
                    message[d] = UInt8(48 + stamp % 10)
                    stamp /= 10
                }
                let sent = message.withUnsafeBytes { csystem_send(targets[i], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard sent == message.count else { fail("short send: \(sent) of \(message.count) bytes (errno \(errno))") }
            }, finished: { i in
                _ = end.withUnsafeBytes { csystem_send(targets[i], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            })
            for fd in targets { close(fd) }
        }

        let epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        let reader = CurlReader(epfd: epfd, capacity: streams * chunks)
        let me = Unmanaged.passUnretained(reader).toOpaque()
        guard let multi = curl_multi_init() else { fail("curl_multi_init failed") }
        ccurl_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, me)
        ccurl_multi_setopt_socket_callback(multi) { _, fd, what, userp, _ in
            let reader = Unmanaged<CurlReader>.fromOpaque(userp!).takeUnretainedValue()
            var ev = epoll_event()
            ev.data.fd = fd
            if what == CURL_POLL_REMOVE {
                epoll_ctl(reader.epfd, EPOLL_CTL_DEL, fd, &ev)
                return 0
            }
            ev.events = (what & CURL_POLL_IN != 0 ? EPOLLIN.rawValue : 0) | (what & CURL_POLL_OUT != 0 ? EPOLLOUT.rawValue : 0)
            if epoll_ctl(reader.epfd, EPOLL_CTL_MOD, fd, &ev) != 0 { epoll_ctl(reader.epfd, EPOLL_CTL_ADD, fd, &ev) }
            return 0
        }
        ccurl_multi_setopt_ptr(multi, CURLMOPT_TIMERDATA, me)
        ccurl_multi_setopt_timer_callback(multi) { _, milliseconds, userp in
            Unmanaged<CurlReader>.fromOpaque(userp!).takeUnretainedValue().timerDue =
                milliseconds < 0 ? .max : MonotonicClock.now() + UInt64(milliseconds) * 1_000_000
            return 0
        }
        ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 1024)
        let url = "http://127.0.0.1:\(port)/v1/chat/completions"
        var easies: [UnsafeMutableRawPointer] = []
        for _ in 0..<streams {
            guard let easy = curl_easy_init() else { fail("curl_easy_init failed") }
            ccurl_easy_setopt_ptr(easy, CURLOPT_URL, url)
            ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
            ccurl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
            ccurl_easy_setopt_write_callback(easy, CURLOPT_WRITEFUNCTION) { data, size, count, userp in
                let now = csystem_cycle_counter()
                Unmanaged<CurlReader>.fromOpaque(userp!).takeUnretainedValue()
                    .deliver(UnsafeRawBufferPointer(start: data, count: size * count), now: now)
                return size * count
            }
            guard curl_multi_add_handle(multi, easy) == CURLM_OK else { fail("curl_multi_add_handle failed") }
            easies.append(easy)
        }

        let maxEvents = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: maxEvents)
        var running: Int32 = Int32(streams)
        var failed = 0
        let cpuStart = threadCPUNanoseconds()
        curl_multi_socket_action(multi, -1, 0, &running)  // -1: CURL_SOCKET_TIMEOUT, a macro
        while running > 0 {
            var timeout: Int32 = -1
            if reader.timerDue != .max {
                let now = MonotonicClock.now()
                timeout = reader.timerDue <= now ? 0 : Int32(clamping: (reader.timerDue - now + 999_999) / 1_000_000)
            }
            let ready = epoll_wait(epfd, events, Int32(maxEvents), timeout)
            if ready < 0 && errno != EINTR { fail("epoll_wait (errno \(errno))") }
            if ready > 0 {
                for k in 0..<Int(ready) {
                    let mask = events[k].events
                    var flags: Int32 = 0
                    if mask & (EPOLLIN.rawValue | EPOLLHUP.rawValue) != 0 { flags |= CURL_CSELECT_IN }
                    if mask & EPOLLOUT.rawValue != 0 { flags |= CURL_CSELECT_OUT }
                    if mask & EPOLLERR.rawValue != 0 { flags |= CURL_CSELECT_ERR }
                    curl_multi_socket_action(multi, events[k].data.fd, flags, &running)
                }
            }
            // The timer is one-shot: curl sets the next one from inside this call if it needs one.
            if reader.timerDue != .max && reader.timerDue <= MonotonicClock.now() {
                reader.timerDue = .max
                curl_multi_socket_action(multi, -1, 0, &running)
            }
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                if message.pointee.msg == CURLMSG_DONE && message.pointee.data.result != CURLE_OK { failed += 1 }
            }
        }
        let cpu = threadCPUNanoseconds() - cpuStart
        pthread_join(writer, nil)
        for easy in easies {
            curl_multi_remove_handle(multi, easy)
            curl_easy_cleanup(easy)
        }
        curl_multi_cleanup(multi)
        close(listener)
        guard failed == 0, reader.badChunks == 0, reader.recorded == streams * chunks else {
            fail("curl relay: \(failed) transfers failed, \(reader.badChunks) deliveries without a stamp, \(reader.recorded) of \(streams * chunks) chunks")
        }
        let sorted = Array(UnsafeBufferPointer(start: reader.latencies, count: reader.recorded)).sorted()
        let count = Double(sorted.count)
        let us = { (p: Double) in String(Int((nanoseconds(sorted, p) / 1e3).rounded())) }
        print("| curl relay floor | \(streams) | \(intervalMilliseconds) | \(Int((count / (Double(chunks) * Double(intervalMilliseconds) / 1e3)).rounded())) | "
            + "\(format2(Double(cpu) / count / 1e3)) | \(us(0.5)) | \(us(0.99)) | \(us(0.999)) | \(us(1)) |")
        exit(0)
    }
}
