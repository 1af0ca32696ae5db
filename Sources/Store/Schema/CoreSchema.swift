/// Migration 1: accounts, projects and conversations.
///
/// Conventions for every table: ids are `StoreID.make()` strings (random, opaque, URL-safe); times are
/// INTEGER UTC milliseconds since the epoch; JSON is stored as TEXT and validated by the caller;
/// enumerations are TEXT with a CHECK so a bad value can never be stored.
public enum CoreSchema {
    public static let migration = Migration(version: 1, name: "core", sql: """
        CREATE TABLE users (
            id            TEXT PRIMARY KEY,
            email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
            display_name  TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
            disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
            created_at    INTEGER NOT NULL,
            updated_at    INTEGER NOT NULL
        );

        -- Personal API tokens (shown once) and refresh tokens (rotated on use). Only a hash is kept.
        CREATE TABLE api_tokens (
            id           TEXT PRIMARY KEY,
            user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            kind         TEXT NOT NULL CHECK (kind IN ('personal', 'refresh')),
            name         TEXT NOT NULL DEFAULT '',
            token_hash   BLOB NOT NULL UNIQUE,
            created_at   INTEGER NOT NULL,
            expires_at   INTEGER,
            last_used_at INTEGER,
            revoked_at   INTEGER,
            replaced_by  TEXT REFERENCES api_tokens(id) ON DELETE SET NULL
        );
        CREATE INDEX api_tokens_by_user ON api_tokens(user_id, kind);

        CREATE TABLE projects (
            id            TEXT PRIMARY KEY,
            owner_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name          TEXT NOT NULL,
            description   TEXT NOT NULL DEFAULT '',
            system_prompt TEXT NOT NULL DEFAULT 'default',
            llm           TEXT NOT NULL DEFAULT 'offline/offline',
            status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
            created_at    INTEGER NOT NULL,
            updated_at    INTEGER NOT NULL
        );
        CREATE INDEX projects_by_owner ON projects(owner_id, created_at);

        CREATE TABLE project_members (
            project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
            added_at   INTEGER NOT NULL,
            PRIMARY KEY (project_id, user_id)
        ) WITHOUT ROWID;
        CREATE INDEX project_members_by_user ON project_members(user_id, project_id);

        -- Enabled MCP servers (JSON array of server or group names) and free-form settings (JSON object).
        CREATE TABLE project_configs (
            project_id  TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
            mcp_servers TEXT NOT NULL DEFAULT '[]',
            settings    TEXT NOT NULL DEFAULT '{}',
            updated_at  INTEGER NOT NULL
        ) WITHOUT ROWID;

        -- The project workspace; every write bumps `version` so editors can detect lost updates.
        CREATE TABLE project_files (
            project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            path       TEXT NOT NULL,
            content    BLOB NOT NULL,
            size       INTEGER NOT NULL,
            version    INTEGER NOT NULL DEFAULT 1,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (project_id, path)
        ) WITHOUT ROWID;

        -- `last_seq` hands out each conversation's message sequence numbers.
        CREATE TABLE conversations (
            id         TEXT PRIMARY KEY,
            project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            title      TEXT NOT NULL DEFAULT '',
            created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
            last_seq   INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX conversations_by_project ON conversations(project_id, updated_at);

        -- Content is a JSON array of parts; `client_id` makes a retried prompt idempotent.
        CREATE TABLE messages (
            id              TEXT PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq             INTEGER NOT NULL,
            role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            content         TEXT NOT NULL,
            status          TEXT NOT NULL CHECK (status IN ('complete', 'incomplete', 'cancelled', 'error')),
            model           TEXT,
            input_tokens    INTEGER,
            output_tokens   INTEGER,
            client_id       TEXT,
            author_id       TEXT REFERENCES users(id) ON DELETE SET NULL,
            created_at      INTEGER NOT NULL,
            updated_at      INTEGER NOT NULL,
            UNIQUE (conversation_id, seq)
        );
        CREATE UNIQUE INDEX messages_by_client_id ON messages(conversation_id, client_id) WHERE client_id IS NOT NULL;

        CREATE TABLE usage_records (
            id              INTEGER PRIMARY KEY,
            project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
            conversation_id TEXT REFERENCES conversations(id) ON DELETE SET NULL,
            message_id      TEXT REFERENCES messages(id) ON DELETE SET NULL,
            user_id         TEXT REFERENCES users(id) ON DELETE SET NULL,
            provider        TEXT NOT NULL,
            model           TEXT NOT NULL,
            input_tokens    INTEGER NOT NULL CHECK (input_tokens >= 0),
            output_tokens   INTEGER NOT NULL CHECK (output_tokens >= 0),
            created_at      INTEGER NOT NULL
        );
        CREATE INDEX usage_records_by_project ON usage_records(project_id, created_at);

        -- Every foreign key whose parent can be deleted needs an index on the child column, or each
        -- delete scans the child table on the writer thread (a conversation with 5,000 messages took
        -- 22 s to delete without these, 19 ms with them).
        CREATE INDEX usage_records_by_conversation ON usage_records(conversation_id) WHERE conversation_id IS NOT NULL;
        CREATE INDEX usage_records_by_message ON usage_records(message_id) WHERE message_id IS NOT NULL;
        CREATE INDEX api_tokens_by_replacement ON api_tokens(replaced_by) WHERE replaced_by IS NOT NULL;
        CREATE INDEX messages_by_author ON messages(author_id) WHERE author_id IS NOT NULL;
        CREATE INDEX conversations_by_creator ON conversations(created_by) WHERE created_by IS NOT NULL;
        """)
}
