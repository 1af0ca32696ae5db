#include <sqlite3.h>
#include "wal_coalescing.h"
// SQLITE_TRANSIENT is a cast macro Swift cannot import.
static inline sqlite3_destructor_type csqlite_transient(void) { return SQLITE_TRANSIENT; }
// Extended result codes are macros of the form (BASE | (n<<8)), which Swift does not import.
static const int csqlite_constraint_unique = SQLITE_CONSTRAINT_UNIQUE;
static const int csqlite_constraint_primarykey = SQLITE_CONSTRAINT_PRIMARYKEY;
static const int csqlite_constraint_foreignkey = SQLITE_CONSTRAINT_FOREIGNKEY;
// sqlite3_config is variadic. Each connection is used by one thread at a time, so SQLite's own
// per-connection mutexes are redundant (MULTITHREAD), and memory statistics put a global mutex
// around every allocation (MEMSTATUS). Must run before the library is initialised.
static inline int csqlite_configure_for_server(void) {
    int rc = sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    if (rc != SQLITE_OK) return rc;
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
// The WAL's length in frames after each commit, written where `frames` points (the writer's own
// counter). Replaces SQLite's automatic checkpoint hook, which the server turns off anyway.
static int csqlite_wal_length_hook(void *frames, sqlite3 *db, const char *name, int length) {
    (void)db; (void)name;
    *(int *)frames = length;
    return SQLITE_OK;
}
static inline void csqlite_track_wal_length(sqlite3 *db, int *frames) {
    sqlite3_wal_hook(db, csqlite_wal_length_hook, frames);
}
