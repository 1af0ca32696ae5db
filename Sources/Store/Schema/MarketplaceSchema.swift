/// Migration 3: the marketplace — published apps, their counters, installations, reviews, and a
/// full-text index.
///
/// Deletion. An app is its project's listing: the files an installer copies live in that project, so
/// deleting the project (or the publisher's account, which deletes their projects) deletes the app,
/// and with it its counters, reviews and installation records. Unpublishing is the soft path that
/// keeps everything. An installer's account going away only blanks `installations.user_id`, so the
/// publisher's download count and revenue stay true; their reviews go with them (personal content).
///
/// Counters. `app_stats` is kept exact by triggers on `installations` and `reviews`, so it changes
/// in the same statement (hence the same transaction) as the row it counts, whoever writes it,
/// including foreign-key cascades. Invariants: `downloads` = installations of the app, `rating_sum`
/// and `rating_count` = sum and number of ratings, `review_count` = reviews with a non-empty body
/// (a bare star rating counts towards the average but is not a written review). Never write these
/// tables with `INSERT OR REPLACE`: with recursive triggers off, the rows REPLACE deletes fire no
/// trigger; the store uses UPSERT (`ON CONFLICT … DO UPDATE`), which does.
public enum MarketplaceSchema {
    /// Raised (as a constraint violation) when a publisher reviews their own app.
    static let publisherReviewMessage = "a publisher cannot review their own app"
    /// Raised (as a constraint violation) when someone installs an app that is not published.
    static let unpublishedInstallMessage = "the app is not published"

    public static let migration = Migration(version: 3, name: "marketplace", sql: """
        -- `rowid` is declared so it is stable (VACUUM cannot renumber it): the FTS index refers to it.
        -- `tags` is a JSON array of strings. `published_at` is the latest publication (first release
        -- or new version), which is what "newest" sorts on.
        CREATE TABLE apps (
            rowid        INTEGER PRIMARY KEY,
            id           TEXT NOT NULL UNIQUE,
            project_id   TEXT NOT NULL UNIQUE REFERENCES projects(id) ON DELETE CASCADE,
            publisher_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name         TEXT NOT NULL CHECK (name <> ''),
            description  TEXT NOT NULL DEFAULT '',
            category     TEXT NOT NULL CHECK (category <> ''),
            tags         TEXT NOT NULL DEFAULT '[]'
                         CHECK (CASE WHEN json_valid(tags) THEN json_type(tags) = 'array' ELSE 0 END),
            price_minor  INTEGER NOT NULL CHECK (typeof(price_minor) = 'integer' AND price_minor >= 0),
            currency     TEXT NOT NULL CHECK (length(currency) = 3 AND currency GLOB '[A-Z][A-Z][A-Z]'),
            version      TEXT NOT NULL CHECK (version <> ''),
            status       TEXT NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'unpublished')),
            created_at   INTEGER NOT NULL,
            updated_at   INTEGER NOT NULL,
            published_at INTEGER NOT NULL
        );
        CREATE INDEX apps_by_publisher ON apps(publisher_id, created_at);
        -- Browsing only ever shows published apps; the partial indexes serve "newest" with each filter.
        CREATE INDEX apps_newest ON apps(published_at, id) WHERE status = 'published';
        CREATE INDEX apps_newest_by_category ON apps(category, published_at, id) WHERE status = 'published';
        CREATE INDEX apps_newest_free ON apps(published_at, id) WHERE status = 'published' AND price_minor = 0;
        CREATE INDEX apps_newest_paid ON apps(published_at, id) WHERE status = 'published' AND price_minor > 0;

        -- `rating_milli` is the average × 1000 in integer arithmetic: one deterministic sort key.
        CREATE TABLE app_stats (
            app_id       TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
            downloads    INTEGER NOT NULL DEFAULT 0 CHECK (downloads >= 0),
            rating_sum   INTEGER NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
            rating_count INTEGER NOT NULL DEFAULT 0 CHECK (rating_count >= 0),
            review_count INTEGER NOT NULL DEFAULT 0 CHECK (review_count >= 0),
            rating_milli INTEGER GENERATED ALWAYS AS
                         (CASE WHEN rating_count > 0 THEN rating_sum * 1000 / rating_count ELSE 0 END) STORED
        ) WITHOUT ROWID;
        CREATE INDEX app_stats_by_downloads ON app_stats(downloads, app_id);
        CREATE INDEX app_stats_by_rating ON app_stats(rating_milli, app_id);

        -- One row per (app, user): a download counts once. `project_id` is the installer's copy.
        CREATE TABLE installations (
            id           TEXT PRIMARY KEY,
            app_id       TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
            user_id      TEXT REFERENCES users(id) ON DELETE SET NULL,
            project_id   TEXT REFERENCES projects(id) ON DELETE SET NULL,
            installed_at INTEGER NOT NULL,
            price_minor  INTEGER NOT NULL CHECK (typeof(price_minor) = 'integer' AND price_minor >= 0),
            currency     TEXT NOT NULL CHECK (length(currency) = 3 AND currency GLOB '[A-Z][A-Z][A-Z]'),
            UNIQUE (app_id, user_id)
        );
        CREATE INDEX installations_by_app_time ON installations(app_id, installed_at);
        CREATE INDEX installations_by_user ON installations(user_id, installed_at);
        CREATE INDEX installations_by_project ON installations(project_id) WHERE project_id IS NOT NULL;

        CREATE TABLE reviews (
            id         TEXT PRIMARY KEY,
            app_id     TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
            user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            rating     INTEGER NOT NULL CHECK (typeof(rating) = 'integer' AND rating BETWEEN 1 AND 5),
            body       TEXT NOT NULL DEFAULT '',
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (app_id, user_id)
        );
        CREATE INDEX reviews_by_app_newest ON reviews(app_id, created_at, id);
        CREATE INDEX reviews_by_user ON reviews(user_id);

        -- Counters -----------------------------------------------------------------------------
        CREATE TRIGGER apps_create_stats AFTER INSERT ON apps BEGIN
            INSERT INTO app_stats (app_id) VALUES (new.id);
        END;
        CREATE TRIGGER installations_count AFTER INSERT ON installations BEGIN
            UPDATE app_stats SET downloads = downloads + 1 WHERE app_id = new.app_id;
        END;
        CREATE TRIGGER installations_recount AFTER UPDATE OF app_id ON installations BEGIN
            UPDATE app_stats SET downloads = downloads - 1 WHERE app_id = old.app_id;
            UPDATE app_stats SET downloads = downloads + 1 WHERE app_id = new.app_id;
        END;
        CREATE TRIGGER installations_uncount AFTER DELETE ON installations BEGIN
            UPDATE app_stats SET downloads = downloads - 1 WHERE app_id = old.app_id;
        END;
        CREATE TRIGGER reviews_count AFTER INSERT ON reviews BEGIN
            UPDATE app_stats SET rating_sum = rating_sum + new.rating, rating_count = rating_count + 1,
                                 review_count = review_count + (new.body <> '')
            WHERE app_id = new.app_id;
        END;
        CREATE TRIGGER reviews_recount AFTER UPDATE OF app_id, rating, body ON reviews BEGIN
            UPDATE app_stats SET rating_sum = rating_sum - old.rating, rating_count = rating_count - 1,
                                 review_count = review_count - (old.body <> '')
            WHERE app_id = old.app_id;
            UPDATE app_stats SET rating_sum = rating_sum + new.rating, rating_count = rating_count + 1,
                                 review_count = review_count + (new.body <> '')
            WHERE app_id = new.app_id;
        END;
        CREATE TRIGGER reviews_uncount AFTER DELETE ON reviews BEGIN
            UPDATE app_stats SET rating_sum = rating_sum - old.rating, rating_count = rating_count - 1,
                                 review_count = review_count - (old.body <> '')
            WHERE app_id = old.app_id;
        END;

        -- Rules the API must not be able to forget ---------------------------------------------
        CREATE TRIGGER reviews_not_by_publisher BEFORE INSERT ON reviews
        WHEN new.user_id = (SELECT publisher_id FROM apps WHERE id = new.app_id)
        BEGIN
            SELECT RAISE(ABORT, '\(publisherReviewMessage)');
        END;
        CREATE TRIGGER reviews_not_moved_to_publisher BEFORE UPDATE OF app_id, user_id ON reviews
        WHEN new.user_id = (SELECT publisher_id FROM apps WHERE id = new.app_id)
        BEGIN
            SELECT RAISE(ABORT, '\(publisherReviewMessage)');
        END;
        -- A repeat install of an app since unpublished is allowed: it returns the existing row.
        CREATE TRIGGER installations_need_published BEFORE INSERT ON installations
        WHEN (SELECT status FROM apps WHERE id = new.app_id) = 'unpublished'
             AND NOT EXISTS (SELECT 1 FROM installations WHERE app_id = new.app_id AND user_id = new.user_id)
        BEGIN
            SELECT RAISE(ABORT, '\(unpublishedInstallMessage)');
        END;

        -- Full-text search ---------------------------------------------------------------------
        -- External content: the index stores only tokens and reads the text from `apps`. It covers
        -- unpublished apps too (the 'delete' command must see exactly what was indexed); queries
        -- filter on status.
        CREATE VIRTUAL TABLE apps_fts USING fts5(
            name, description, category, tags,
            content = 'apps', content_rowid = 'rowid',
            tokenize = 'unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER apps_fts_insert AFTER INSERT ON apps BEGIN
            INSERT INTO apps_fts (rowid, name, description, category, tags)
            VALUES (new.rowid, new.name, new.description, new.category, new.tags);
        END;
        CREATE TRIGGER apps_fts_delete AFTER DELETE ON apps BEGIN
            INSERT INTO apps_fts (apps_fts, rowid, name, description, category, tags)
            VALUES ('delete', old.rowid, old.name, old.description, old.category, old.tags);
        END;
        CREATE TRIGGER apps_fts_update AFTER UPDATE OF rowid, name, description, category, tags ON apps BEGIN
            INSERT INTO apps_fts (apps_fts, rowid, name, description, category, tags)
            VALUES ('delete', old.rowid, old.name, old.description, old.category, old.tags);
            INSERT INTO apps_fts (rowid, name, description, category, tags)
            VALUES (new.rowid, new.name, new.description, new.category, new.tags);
        END;
        """)
}
