import Foundation
import Net

/// The browser client: a static single-page app (plain ES modules, no build step, nothing loaded
/// from other hosts) served from the target's resources. `GET /` is index.html and `GET /assets/*`
/// the other files; everything is read once, when the routes are registered.
public enum WebClient {
    /// The policy every page and asset is served with: scripts, styles and connections only to this
    /// server (and its WebSocket), images from it or `data:` (the admin latency chart is inline SVG).
    public static let contentSecurityPolicy =
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"

    static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon", "json": "application/json",
        "txt": "text/plain; charset=utf-8",
    ]

    /// The asset files by their path under Assets/ ("app.js", "icons/x.svg").
    static func loadAssets() -> [String: [UInt8]] {
        guard let root = Bundle.module.resourceURL?.appendingPathComponent("Assets") else { return [:] }
        var files: [String: [UInt8]] = [:]
        let base = root.standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: base) else { return [:] }
        while let relative = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let full = base + "/" + relative
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let data = FileManager.default.contents(atPath: full) else { continue }
            files[relative] = [UInt8](data)
        }
        return files
    }

    static func contentType(_ path: String) -> String? {
        guard let dot = path.lastIndex(of: ".") else { return nil }
        return contentTypes[String(path[path.index(after: dot)...]).lowercased()]
    }

    static func headers(_ contentType: String) -> HTTPHeaders {
        HTTPHeaders([
            ("Content-Type", contentType), ("Content-Security-Policy", contentSecurityPolicy),
            ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "no-cache"),
        ])
    }

    static func notFound() -> HTTPResponse {
        var response = HTTPResponse.problem(.notFound, detail: "no such page or asset")
        response.headers.replaceOrAdd("X-Content-Type-Options", "nosniff")
        response.headers.replaceOrAdd("Content-Security-Policy", contentSecurityPolicy)
        return response
    }

    /// The response for an asset path (relative to Assets/), or a 404.
    static func serve(_ path: String, from files: [String: [UInt8]]) -> HTTPResponse {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !parts.contains(where: { $0.isEmpty || $0 == ".." || $0 == "." || $0.contains("\\") }),
              let body = files[path], let type = contentType(path) else {
            return notFound()
        }
        return HTTPResponse(status: .ok, headers: headers(type), body: body)
    }

    /// Adds `GET /` (index.html) and `GET /assets/*path`.
    public static func register(on router: inout Router) {
        let files = loadAssets()
        router.get("/") { _ in serve("index.html", from: files) }
        router.get("/assets/*path") { request in
            let raw = request.parameters["path"] ?? ""
            guard let path = PercentDecoding.decode(raw) else { return notFound() }
            return serve(path, from: files)
        }
    }
}
