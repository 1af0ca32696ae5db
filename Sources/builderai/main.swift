import API
import CSystem
import Glibc
import Net

/// builderai: reads configuration, wires the modules together, and runs a command.
let usage = """
Usage: builderai <command> [options]

Commands:
  serve       start the server (see 'builderai serve --help')
  version     print the version

Run 'builderai serve' with no options for the embedded defaults: 127.0.0.1:8080.
"""

let version = "0.1.0"

func environment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let eq = text.firstIndex(of: "=") {
            result[String(text[..<eq])] = String(text[text.index(after: eq)...])
        }
        pointer += 1
    }
    return result
}

func fail(_ message: String, code: Int32) -> Never {
    let line = Array("builderai: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(code)
}

/// Blocks SIGINT/SIGTERM in every thread (loops inherit the mask) and returns a signalfd for them,
/// so the main thread can wait for a shutdown request with a plain read.
func shutdownSignals() -> Int32 {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_BLOCK, &set, nil)
    signal(SIGPIPE, SIG_IGN)
    return signalfd(-1, &set, Int32(SFD_CLOEXEC))
}

func serve(_ arguments: [String]) -> Never {
    let options: ServeOptions
    do {
        options = try ServeOptions.parse(arguments, environment: environment())
    } catch let error {
        if error.message.isEmpty {
            print(ServeOptions.help)
            exit(0)
        }
        fail("\(error.message)\nRun 'builderai serve --help' for the options.", code: 64)
    }
    Log.level = options.logLevel
    let signals = shutdownSignals()
    Socket.raiseOpenFileLimit()

    var configuration = HTTPServerConfiguration()
    configuration.host = options.host
    configuration.port = options.port
    if options.loops > 0 { configuration.loopCount = options.loops }
    configuration.maxConnections = options.maxConnections
    configuration.busyPoll = .microseconds(options.busyPollMicroseconds)

    var router = Router()
    HealthRoutes.register(on: &router, version: version)
    if options.echoEndpoint { router.webSocket("/ws/echo", EchoWebSocket.route) }

    let server: HTTPServer
    do {
        server = try HTTPServer(configuration: configuration, router: router)
    } catch let error {
        if error.code == EADDRINUSE {
            fail("port \(options.port) on \(options.host) is already in use; choose another with --port", code: 69)
        }
        if error.code == EADDRNOTAVAIL || error.code == EACCES || error.code == EINVAL {
            fail("cannot listen on \(options.host):\(options.port): \(error)", code: 69)
        }
        fail("cannot start: \(error)", code: 70)
    }
    Log.info("listening", ["address": "\(options.host):\(server.port)", "loops": String(server.loops.count),
                           "version": version])

    var info = signalfd_siginfo()
    while read(signals, &info, MemoryLayout<signalfd_siginfo>.size) < 0 && errno == EINTR {}
    Log.info("shutting down", ["signal": info.ssi_signo == UInt32(SIGINT) ? "SIGINT" : "SIGTERM"])
    server.shutdown()
    Log.info("stopped")
    exit(0)
}

var arguments = Array(CommandLine.arguments.dropFirst())
let command = arguments.isEmpty ? "serve" : arguments.removeFirst()
switch command {
case "serve": serve(arguments)
case "version", "--version": print("builderai \(version)")
case "-h", "--help", "help": print(usage)
default: fail("unknown command '\(command)'\n\(usage)", code: 64)
}
