import Net
import Store

/// Installing an app: the installer gets a new project of their own holding a copy of the app's
/// files and configuration. One write transaction does the copy, the installation row, the download
/// count (a trigger) and the audit entry, so a failure leaves nothing half-installed.
enum AppInstallRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.post, "/api/v1/apps/:id/install", .user,
                 "Install an app into a new project of yours (idempotent: a repeat returns the same installation)",
                 deferred: install),
    ]

    static func installationJSON(_ installation: Installation) -> JSONValue {
        .object(["id": .string(installation.id), "app_id": .string(installation.appID),
                 "project_id": .optional(installation.projectID), "installed_at": .int(installation.installedAt),
                 "price_cents": .int(installation.priceMinor), "currency": .string(installation.currency)])
    }

    static func install(_ context: APIContext) async throws -> HTTPResponse {
        let id = context.parameter("id")
        let me = try context.me
        let ip = context.ip
        // Audited by hand, and only when something was created: a repeat changes nothing.
        let copy = try await context.write { db -> InstalledCopy in
            guard let app = try App.find(db, id: id) else { throw APIError.notFound("app with id \(id)") }
            let copy: InstalledCopy
            do {
                copy = try Installation.installCopy(db, app: app, userID: me.id)
            } catch let error as StoreError where error.message == Installation.unpublishedMessage {
                throw APIError.notFound("published app with id \(id)")
            }
            if copy.createdProject {
                let details = JSONValue.object(["app_id": .string(id), "project_id": .optional(copy.installation.projectID)])
                try AuditEntry.append(db, actorID: me.id, action: "app.install", targetType: "installation",
                                      targetID: copy.installation.id, details: details.serializedString, ip: ip)
            }
            return copy
        }
        return Reply.json(installationJSON(copy.installation), status: copy.createdProject ? .created : .ok)
    }
}
