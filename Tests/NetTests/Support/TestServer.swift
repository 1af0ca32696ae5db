import Glibc
@testable import Net

/// An in-process server on 127.0.0.1 and a free port, with short timeouts so that timeout paths
/// can be tested quickly. Call `stop()` (or let `withTestServer` do it).
final class TestServer: Sendable {
    let server: HTTPServer
    var port: Int { server.port }

    init(configure: (inout HTTPServerConfiguration) -> Void = { _ in }, routes: (inout Router) -> Void = { _ in }) throws {
        var configuration = HTTPServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.loopCount = 2
        configuration.shutdownGrace = .seconds(3)
        configure(&configuration)
        var router = Router()
        router.webSocket("/ws/echo", EchoWebSocket.route)
        router.get("/hello") { _ in .text("hello") }
        router.add(.post, "/echo", immediate: { request in
            HTTPResponse(status: .ok, body: request.body)
        })
        router.get("/items/:id") { request in .text("item \(request.parameters["id"] ?? "?")") }
        routes(&router)
        server = try HTTPServer(configuration: configuration, router: router)
    }

    func stop() { server.shutdown() }
}

/// Runs `body` with a fresh server and always stops it.
func withTestServer<R>(configure: (inout HTTPServerConfiguration) -> Void = { _ in },
                       routes: (inout Router) -> Void = { _ in },
                       _ body: (TestServer) throws -> R) throws -> R {
    let server = try TestServer(configure: configure, routes: routes)
    defer { server.stop() }
    return try body(server)
}
