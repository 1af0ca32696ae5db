import Net

/// Liveness for load balancers and supervisors. Readiness (database, MCP servers) joins it when
/// those exist.
public enum HealthRoutes {
    /// Adds `GET /healthz`: 200 with the version while the process serves requests.
    public static func register(on router: inout Router, version: String) {
        router.get("/healthz") { _ in
            var json = "{\"status\":\"ok\",\"version\":"
            appendJSONString(version, to: &json)
            json += "}"
            return .json(json)
        }
    }
}
