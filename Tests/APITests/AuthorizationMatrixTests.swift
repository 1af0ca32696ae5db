import Foundation
import Testing
@testable import API

/// Who may call each route, in one table: a route missing here fails the first test, so no route
/// ships without a stated rule. The role-by-role checks of project and app routes live in
/// ProjectAccessTests and the marketplace tests; this table is checked for anonymous callers,
/// ordinary users on admin routes, and agreement with each route's declared access level.
@Suite(.timeLimit(.minutes(3))) struct AuthorizationMatrixTests {
    enum Rule: String {
        case anyone, user, admin
        /// Signed in, then the project role in the handler: member reads, editor writes, owner administers.
        case projectMember, projectEditor, projectOwner, projectOwnerOrSelf
        /// Signed in, then the app's publisher (or an admin where stated).
        case publisher, publisherOrAdmin

        var routeAccess: Access {
            switch self {
            case .anyone: .anyone
            case .admin: .admin
            default: .user
            }
        }
    }

    static let matrix: [String: Rule] = [
        "POST /api/v1/auth/register": .anyone, "POST /api/v1/auth/login": .anyone, "POST /api/v1/auth/refresh": .anyone,
        "POST /api/v1/auth/logout": .user, "GET /api/v1/me": .user, "GET /api/v1/tokens": .user,
        "POST /api/v1/tokens": .user, "DELETE /api/v1/tokens/:id": .user, "POST /api/v1/ws-tickets": .user,

        "GET /api/v1/projects": .user, "POST /api/v1/projects": .user,
        "GET /api/v1/projects/:id": .projectMember, "PATCH /api/v1/projects/:id": .projectEditor,
        "DELETE /api/v1/projects/:id": .projectOwner,
        "GET /api/v1/projects/:id/members": .projectMember, "PUT /api/v1/projects/:id/members/:userId": .projectOwner,
        "DELETE /api/v1/projects/:id/members/:userId": .projectOwnerOrSelf,
        "GET /api/v1/projects/:id/config": .projectMember, "PUT /api/v1/projects/:id/config": .projectEditor,
        "GET /api/v1/projects/:id/files": .projectMember, "GET /api/v1/projects/:id/files/*path": .projectMember,
        "PUT /api/v1/projects/:id/files/*path": .projectEditor, "DELETE /api/v1/projects/:id/files/*path": .projectEditor,
        "GET /api/v1/projects/:id/conversations": .projectMember,
        "GET /api/v1/projects/:id/conversations/:conversationId/messages": .projectMember,

        "POST /api/v1/apps": .projectOwner, "PATCH /api/v1/apps/:id": .publisher,
        "POST /api/v1/apps/:id/versions": .publisher, "DELETE /api/v1/apps/:id": .publisherOrAdmin,
        "GET /api/v1/apps": .anyone, "GET /api/v1/apps/:id": .anyone, "POST /api/v1/apps/:id/install": .user,
        "GET /api/v1/apps/:id/reviews": .anyone, "PUT /api/v1/apps/:id/reviews/mine": .user,
        "DELETE /api/v1/apps/:id/reviews/mine": .user,
        "GET /api/v1/publisher/apps": .user, "GET /api/v1/publisher/stats": .user,

        "GET /api/v1/admin/users": .admin, "PATCH /api/v1/admin/users/:id": .admin,
        "GET /api/v1/admin/mcp-servers": .admin, "GET /api/v1/admin/mcp-servers/:name/health": .admin,
        "POST /api/v1/admin/mcp-servers": .admin, "PUT /api/v1/admin/mcp-servers/:name": .admin,
        "DELETE /api/v1/admin/mcp-servers/:name": .admin, "POST /api/v1/admin/mcp-servers/:name/restart": .admin,
        "GET /api/v1/admin/audit-log": .admin,
    ]

    static func key(_ route: APIRoute) -> String { "\(route.method.rawValue) \(route.pattern)" }

    @Test func everyRouteStatesWhoMayCallItAndItsDeclaredAccessAgrees() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let registered = Set(server.api.routes.map(Self.key))
        #expect(registered.subtracting(Self.matrix.keys).isEmpty, "routes with no rule: \(registered.subtracting(Self.matrix.keys).sorted())")
        #expect(Set(Self.matrix.keys).subtracting(registered).isEmpty, "rules for missing routes: \(Set(Self.matrix.keys).subtracting(registered).sorted())")
        for route in server.api.routes {
            let rule = try #require(Self.matrix[Self.key(route)])
            #expect(route.access == rule.routeAccess, "\(Self.key(route)) is declared \(route.access) but the rule is \(rule)")
        }
    }

    @Test func anonymousCallersGet401AndUsersGet403OnAdminRoutes() throws {
        let server = try APITestServer()
        defer { server.shutdown() }
        let user = try server.account("Ada")
        for route in server.api.routes where route.access != .anyone {
            let path = route.pattern.split(separator: "/").map { $0.hasPrefix(":") || $0.hasPrefix("*") ? "x" : String($0) }
                .joined(separator: "/")
            let anonymous = try server.request(route.method.rawValue, "/" + path, body: "{}")
            #expect(anonymous.status == 401, "\(Self.key(route)) anonymous: \(anonymous.status)")
            #expect(anonymous.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
            if route.access == .admin {
                let ordinary = try server.request(route.method.rawValue, "/" + path, token: user.token, body: "{}")
                #expect(ordinary.status == 403, "\(Self.key(route)) as a user: \(ordinary.status)")
            }
        }
    }
}
