/// Migration 2: MCP servers, their health history, and the audit log. (Being written.)
public enum OperationsSchema {
    public static let migration = Migration(version: 2, name: "operations", sql: "SELECT 1")
}
