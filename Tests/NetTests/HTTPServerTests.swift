import Dispatch
import Glibc
import Testing
@testable import Net

/// The HTTP/1.1 server end to end over real sockets: framing, keep-alive, pipelining, limits, timeouts.
@Suite struct HTTPServerTests {
    @Test func servesTwoRequestsOnOneKeepAliveConnection() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            for _ in 0..<2 {
                try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.text == "hello")
                #expect(response.header("Connection") == nil)
                #expect(response.header("Date")?.hasSuffix(" GMT") == true)
            }
        }
    }

    @Test func answersPipelinedRequestsInOrder() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                + "GET /items/%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().text == "item 1")
            #expect(try client.readResponse().text == "abc")
            #expect(try client.readResponse().text == "item é")
        }
    }

    @Test func completesAResponseFromAnotherThread() throws {
        try withTestServer(routes: { router in
            router.add(.get, "/later") { _, responder in
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) {
                    responder.respond(.text("later"))
                }
            }
        }) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /later HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().text == "later")
            #expect(try client.readResponse().text == "hello")
        }
    }

    @Test func finishesAnInFlightResponseDuringShutdownAndThenCloses() throws {
        let server = try TestServer(routes: { router in
            router.add(.get, "/slow") { _, responder in
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(300)) {
                    responder.respond(.text("finished"))
                }
            }
        })
        let client = try RawClient(port: server.port)
        try client.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(50_000)
        let stopper = try startThread(name: "stopper") { server.stop() }
        let response = try client.readResponse()
        #expect(response.text == "finished")
        #expect(response.header("Connection") == "close")
        #expect(try client.isClosedByServer())
        pthread_join(stopper, nil)
        // Nothing listens any more.
        #expect(throws: ClientError.self) { try RawClient(port: server.port) }
    }

    @Test func readsAChunkedBody() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n")
            #expect(try client.readResponse().text == "Wikipedia")
        }
    }

    @Test func sends100ContinueBeforeReadingTheBody() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            let interim = try client.readHead()
            #expect(interim == "HTTP/1.1 100 Continue")
            try client.send("hello")
            #expect(try client.readResponse().text == "hello")
        }
    }

    @Test func answersHeadWithoutABodyAndOptionsWithAllow() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            try client.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try client.readResponse(headRequest: true)
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "5")
            try client.send("OPTIONS /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let options = try client.readResponse()
            #expect(options.status == 204)
            #expect(options.header("Allow") == "GET, HEAD, OPTIONS")
        }
    }

    @Test func answers405WithAllowAnd404AsProblemJSON() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            try client.send("DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let notAllowed = try client.readResponse()
            #expect(notAllowed.status == 405)
            #expect(notAllowed.header("Allow") == "GET, HEAD, OPTIONS")
            #expect(notAllowed.header("Content-Type") == "application/problem+json")
            try client.send("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
            let missing = try client.readResponse()
            #expect(missing.status == 404)
            #expect(missing.text.contains("\"detail\":\"No resource at /missing.\""))
        }
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
        ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("GET / HTTP/1.1\r\n\r\n", 400),
    ])
    func rejectsBadRequestsWithThePreciseStatusAndCloses(request: String, status: Int) throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            try client.send(request)
            let response = try client.readResponse()
            #expect(response.status == status)
            #expect(response.header("Connection") == "close")
            #expect(response.header("Content-Type") == "application/problem+json")
            #expect(try client.isClosedByServer())
        }
    }

    @Test func answers431WhenTheHeaderBlockIsTooLarge() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            try client.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 20_000) + "\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 431)
            #expect(try client.isClosedByServer())
        }
    }

    @Test func closesAfterRespondingToHTTP10WithoutKeepAlive() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /hello HTTP/1.0\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.header("Connection") == "close")
            #expect(try client.isClosedByServer())
        }
    }

    @Test func keepsHTTP10AliveWhenAsked() throws {
        try withTestServer { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try client.readResponse().header("Connection") == "keep-alive")
            try client.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try client.readResponse().text == "hello")
        }
    }

    @Test func answers408WhenHeadersTrickleInTooSlowly() throws {
        try withTestServer(configure: { $0.headerTimeout = .milliseconds(300) }) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /hello HTTP/1.1\r\n")
            for _ in 0..<3 {
                usleep(150_000)
                try client.send("X-Slow: 1\r\n")
            }
            let response = try client.readResponse()
            #expect(response.status == 408)
            #expect(try client.isClosedByServer())
        }
    }

    @Test func answers408WhenTheBodyStalls() throws {
        try withTestServer(configure: { $0.bodyTimeout = .milliseconds(200) }) { server in
            let client = try RawClient(port: server.port)
            try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            let response = try client.readResponse()
            #expect(response.status == 408)
            #expect(try client.isClosedByServer())
        }
    }

    @Test func closesIdleKeepAliveConnections() throws {
        try withTestServer(configure: { $0.keepAliveTimeout = .milliseconds(200) }) { server in
            let client = try RawClient(port: server.port)
            try client.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 200)
            let start = MonotonicClock.now()
            #expect(try client.isClosedByServer())
            #expect(MonotonicClock.now() - start >= 150_000_000)
        }
    }

    @Test func refusesConnectionsBeyondTheCapWith503() throws {
        try withTestServer(configure: { $0.maxConnections = 2 }) { server in
            let first = try RawClient(port: server.port)
            let second = try RawClient(port: server.port)
            try first.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            try second.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try first.readResponse().status == 200)
            #expect(try second.readResponse().status == 200)
            let third = try RawClient(port: server.port)
            let refused = try third.readResponse()
            #expect(refused.status == 503)
            #expect(refused.header("Retry-After") == "1")
            #expect(server.server.metrics.refused.load(ordering: .relaxed) == 1)
        }
    }

    @Test func refusesToStartWhenThePortIsTaken() throws {
        try withTestServer { server in
            var configuration = HTTPServerConfiguration()
            configuration.port = server.port
            configuration.loopCount = 1
            let error = #expect(throws: SystemError.self) { try HTTPServer(configuration: configuration, router: Router()) }
            #expect(error?.code == EADDRINUSE)
        }
    }
}
