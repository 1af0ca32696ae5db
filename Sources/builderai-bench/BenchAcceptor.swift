import CSystem
import Glibc
import Net

/// Accepts connections on a listening socket for an in-process fake server (the LLM and chat
/// benches' providers) and gives each to the handler `makeHandler` builds. Runs on `loop`.
final class BenchAcceptor: IOHandler {
    let fd: Int32
    unowned let loop: EventLoop
    private let makeHandler: (Connection) -> any ConnectionHandler

    init(fd: Int32, loop: EventLoop, makeHandler: @escaping (Connection) -> any ConnectionHandler) {
        self.fd = fd
        self.loop = loop
        self.makeHandler = makeHandler
    }

    func handleIO(events: UInt32) {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutableBytes(of: &storage) { raw in
                accept4(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length,
                        Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
            }
            guard client >= 0 else { return }
            Socket.setNoDelay(client)
            guard let connection = try? Connection(fd: client, peer: try! SocketAddress(host: "127.0.0.1", port: 0), loop: loop, counter: nil) else {
                close(client)
                continue
            }
            connection.handler = makeHandler(connection)
        }
    }
}
