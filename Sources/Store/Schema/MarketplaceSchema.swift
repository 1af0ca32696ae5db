/// Migration 3: the marketplace. (Being written.)
public enum MarketplaceSchema {
    public static let migration = Migration(version: 3, name: "marketplace", sql: "SELECT 1")
}
