import Net
import Store

/// Short-lived, single-use credentials for browsers: the REST API issues one to a logged-in user
/// (`POST /api/v1/ws-tickets`), the page offers it as `bearer.<ticket>`, and it works once within
/// `lifetime`. Kept in memory: a ticket outliving a restart would be no use to anyone.
public final class WebSocketTickets: Sendable {
    public static let prefix = "wst_"
    private let lifetime: Int64
    private let tickets = Locked<[String: (userID: String, expires: Int64)]>([:])

    public init(lifetimeMilliseconds: Int64 = 60_000) {
        lifetime = lifetimeMilliseconds
    }

    /// A new ticket for `userID`.
    public func issue(userID: String, now: Int64 = StoreClock.nowMilliseconds()) -> String {
        let ticket = TokenSecret.make(prefix: Self.prefix)
        tickets.withLock { table in
            table = table.filter { $0.value.expires > now }
            table[ticket] = (userID, now + lifetime)
        }
        return ticket
    }

    /// The user a ticket was issued to, once: the ticket is gone afterwards. nil when unknown or expired.
    public func redeem(_ ticket: String, now: Int64 = StoreClock.nowMilliseconds()) -> String? {
        guard ticket.hasPrefix(Self.prefix) else { return nil }
        return tickets.withLock { table in
            guard let entry = table.removeValue(forKey: ticket), entry.expires > now else { return nil }
            return entry.userID
        }
    }
}
