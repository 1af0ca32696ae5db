import Net
import Store

/// A publisher's own apps with their counters, and statistics over a date range: installations per
/// UTC day per app, the copies still alive, and revenue (what installers paid) per app and currency. Amounts in different
/// currencies are never added together.
enum PublisherRoutes {
    static let routes: [APIRoute] = [
        APIRoute(.get, "/api/v1/publisher/apps", .user, "Your apps, published or not, with their stats", immediate: apps),
        APIRoute(.get, "/api/v1/publisher/stats", .user,
                 "Installations per day and revenue per app and currency over from…to (UTC dates, inclusive)", immediate: stats),
    ]

    static let maxDays: Int64 = 366
    static let defaultDays: Int64 = 30

    static func apps(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let me = try context.me
        let apps = try context.read { try App.list($0, publisherID: me.id) }
        return Reply.json(.object(["items": .array(apps.map { MarketplaceRoutes.appJSON($0, publisherName: me.displayName) })]))
    }

    static func stats(_ context: APIContext) throws(APIError) -> HTTPResponse {
        let me = try context.me
        let today = StoreClock.nowMilliseconds() / Installation.dayMilliseconds
        let toDay = try day(context, "to") ?? today
        let fromDay = try day(context, "from") ?? (toDay - defaultDays + 1)
        guard fromDay <= toDay else { throw .badRequest("from must not be after to", field: "from") }
        guard toDay - fromDay < maxDays else { throw .badRequest("the range may cover at most \(maxDays) days", field: "to") }
        let from = fromDay * Installation.dayMilliseconds
        let to = (toDay + 1) * Installation.dayMilliseconds
        let (apps, live, days, revenue) = try context.read { db in
            let apps = try App.list(db, publisherID: me.id)
            return (apps, try apps.map { try Installation.liveCount(db, appID: $0.id) },
             try Installation.installsPerDay(db, publisherID: me.id, from: from, to: to),
             try Installation.revenue(db, publisherID: me.id, from: from, to: to))
        }
        var items: [JSONValue] = []
        var totals: [String: Int64] = [:]
        for (app, live) in zip(apps, live) {
            let perDay = days.filter { $0.appID == app.id }
            let earned = revenue.filter { $0.appID == app.id }
            for entry in earned { totals[entry.currency, default: 0] += entry.totalMinor }
            items.append(.object([
                "app_id": .string(app.id), "name": .string(app.name), "price_cents": .int(app.priceMinor),
                "currency": .string(app.currency), "live_installations": .int(live),
                // Each installation is one user's first install, so per day they are also downloads.
                "downloads": .int(perDay.reduce(0) { $0 + $1.installations }),
                "per_day": .array(perDay.map { .object(["date": .string(date($0.day / Installation.dayMilliseconds)),
                                                        "installations": .int($0.installations)]) }),
                "revenue": .array(earned.map { .object(["currency": .string($0.currency), "total_cents": .int($0.totalMinor),
                                                        "installations": .int($0.installations)]) }),
            ]))
        }
        return Reply.json(.object([
            "from": .string(date(fromDay)), "to": .string(date(toDay)), "items": .array(items),
            "revenue_totals": .array(totals.keys.sorted().map { .object(["currency": .string($0), "total_cents": .int(totals[$0] ?? 0)]) }),
        ]))
    }

    /// The query parameter `name` as days since 1970-01-01, from a `YYYY-MM-DD` date.
    private static func day(_ context: APIContext, _ name: String) throws(APIError) -> Int64? {
        guard let raw = context.query(name), !raw.isEmpty else { return nil }
        guard let day = parseDate(raw) else { throw .badRequest("\(name) must be a date like 2026-12-31", field: name) }
        return day
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// `YYYY-MM-DD` of days since 1970-01-01 (civil_from_days).
    static func date(_ days: Int64) -> String {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// Days since 1970-01-01 of a `YYYY-MM-DD` date, nil when it is not a real date.
    static func parseDate(_ text: String) -> Int64? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let year = Int64(parts[0]), let month = Int64(parts[1]), let day = Int64(parts[2]),
              (1...12).contains(month), day >= 1 else { return nil }
        let result = days(year: year, month: month, day: day)
        // A day past the month's end (2026-02-30) comes back as another date.
        return date(result) == text ? result : nil
    }
}
