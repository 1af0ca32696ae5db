// A SQLite VFS shim, "builderai-wal", that coalesces the writes SQLite makes to a WAL file.
//
// SQLite appends each WAL frame with two write calls (a 24-byte frame header, then the page), so a
// group commit that dirties 85 pages made 170 pwrite system calls; on ext4 each one also takes the
// inode lock and updates mtime. Measured here: 190 µs per such commit split, 60 µs as one write.
// This shim buffers contiguous writes to a WAL file and hands them to the real file in one call.
//
// Visibility and durability are unchanged: the buffer is written out when the commit frame's page
// arrives (a frame header whose "database size after commit" field is non-zero marks it), which is
// before SQLite publishes the commit in the WAL index, so no reader, checkpointer or crash recovery
// can see a committed frame that is not in the file. It is also written out before any read, sync,
// truncate, size query, file control or close of the WAL, and before any write that does not
// continue the buffered run (a frame rewritten in place), so SQLite never observes the buffering.
// Files other than WALs are opened by the real VFS directly and are untouched.
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

// Swift imports this header's functions but not its variables, so nothing here is a global: the VFS,
// its methods and its counters live in one block allocated at registration and kept for the process.
typedef struct CSQLiteWalVFS {
    sqlite3_vfs vfs;            // first, so a sqlite3_vfs pointer to it is a pointer to this
    sqlite3_vfs *real;
    sqlite3_io_methods methods;
} CSQLiteWalVFS;

typedef struct CSQLiteWalFile {
    sqlite3_file base;          // pMethods = &owner->methods
    sqlite3_file *real;         // the real VFS's file, in the memory right after this struct
    CSQLiteWalVFS *owner;
    unsigned long long writeCalls;   // writes SQLite made to this file
    unsigned long long flushCalls;   // writes that reached the real file
    unsigned char *buffer;
    sqlite3_int64 bufferStart;  // file offset of buffer[0]
    int bufferLength;
    int bufferCapacity;
    int commitFramePending;     // the last write was a commit frame's header: flush after its page
} CSQLiteWalFile;

enum { CSQLITE_WAL_FLUSH_AT = 8 << 20, CSQLITE_WAL_HEADER_SIZE = 24, CSQLITE_WAL_PIECE = 124 * 1024 };


static int csqlite_wal_flush(CSQLiteWalFile *file) {
    if (file->bufferLength == 0) return SQLITE_OK;
    // The unix VFS masks each write to 17 bits (its seekAndWriteFd), so hand it pieces under 128 KiB.
    int rc = SQLITE_OK;
    for (int done = 0; done < file->bufferLength && rc == SQLITE_OK;) {
        int piece = file->bufferLength - done;
        if (piece > CSQLITE_WAL_PIECE) piece = CSQLITE_WAL_PIECE;
        file->flushCalls += 1;
        rc = file->real->pMethods->xWrite(file->real, file->buffer + done, piece, file->bufferStart + done);
        done += piece;
    }
    file->bufferLength = 0;
    return rc;
}

static int csqlite_wal_close(sqlite3_file *base) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    int rc = csqlite_wal_flush(file);
    int closeRc = file->real->pMethods ? file->real->pMethods->xClose(file->real) : SQLITE_OK;
    free(file->buffer);
    file->buffer = NULL;
    return rc != SQLITE_OK ? rc : closeRc;
}

static int csqlite_wal_read(sqlite3_file *base, void *out, int amount, sqlite3_int64 offset) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    int rc = csqlite_wal_flush(file);
    if (rc != SQLITE_OK) return rc;
    return file->real->pMethods->xRead(file->real, out, amount, offset);
}

static int csqlite_wal_write(sqlite3_file *base, const void *data, int amount, sqlite3_int64 offset) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    int rc;
    file->writeCalls += 1;
    if (file->bufferLength > 0 && offset != file->bufferStart + file->bufferLength) {
        rc = csqlite_wal_flush(file);
        if (rc != SQLITE_OK) return rc;
    }
    if (file->bufferLength + amount > file->bufferCapacity) {
        int capacity = file->bufferCapacity ? file->bufferCapacity : 64 * 1024;
        while (capacity < file->bufferLength + amount) capacity *= 2;
        unsigned char *grown = realloc(file->buffer, (size_t)capacity);
        if (!grown) {
            // No memory for the buffer: write through instead.
            rc = csqlite_wal_flush(file);
            if (rc != SQLITE_OK) return rc;
            file->flushCalls += 1;
            return file->real->pMethods->xWrite(file->real, data, amount, offset);
        }
        file->buffer = grown;
        file->bufferCapacity = capacity;
    }
    if (file->bufferLength == 0) file->bufferStart = offset;
    memcpy(file->buffer + file->bufferLength, data, (size_t)amount);
    file->bufferLength += amount;

    if (amount == CSQLITE_WAL_HEADER_SIZE) {
        // A frame header: bytes 4..7 hold the database size after commit, non-zero only for the
        // last frame of a transaction. (The WAL's own header is 32 bytes; pages are >= 512.)
        const unsigned char *header = data;
        file->commitFramePending = (header[4] | header[5] | header[6] | header[7]) != 0;
        return SQLITE_OK;
    }
    if (file->commitFramePending || file->bufferLength >= CSQLITE_WAL_FLUSH_AT) {
        file->commitFramePending = 0;
        return csqlite_wal_flush(file);
    }
    return SQLITE_OK;
}

static int csqlite_wal_truncate(sqlite3_file *base, sqlite3_int64 size) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    int rc = csqlite_wal_flush(file);
    if (rc != SQLITE_OK) return rc;
    return file->real->pMethods->xTruncate(file->real, size);
}

static int csqlite_wal_sync(sqlite3_file *base, int flags) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    int rc = csqlite_wal_flush(file);
    if (rc != SQLITE_OK) return rc;
    return file->real->pMethods->xSync(file->real, flags);
}

static int csqlite_wal_file_size(sqlite3_file *base, sqlite3_int64 *size) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    int rc = csqlite_wal_flush(file);
    if (rc != SQLITE_OK) return rc;
    return file->real->pMethods->xFileSize(file->real, size);
}

static int csqlite_wal_lock(sqlite3_file *base, int level) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    return file->real->pMethods->xLock(file->real, level);
}

static int csqlite_wal_unlock(sqlite3_file *base, int level) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    return file->real->pMethods->xUnlock(file->real, level);
}

static int csqlite_wal_check_reserved_lock(sqlite3_file *base, int *out) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    return file->real->pMethods->xCheckReservedLock(file->real, out);
}

static int csqlite_wal_file_control(sqlite3_file *base, int op, void *argument) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    int rc = csqlite_wal_flush(file);
    if (rc != SQLITE_OK) return rc;
    return file->real->pMethods->xFileControl(file->real, op, argument);
}

static int csqlite_wal_sector_size(sqlite3_file *base) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    return file->real->pMethods->xSectorSize(file->real);
}

static int csqlite_wal_device_characteristics(sqlite3_file *base) {
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    return file->real->pMethods->xDeviceCharacteristics(file->real);
}

static int csqlite_wal_vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *base, int flags, int *outFlags) {
    CSQLiteWalVFS *owner = (CSQLiteWalVFS *)vfs;
    sqlite3_vfs *real = owner->real;
    if (!(flags & SQLITE_OPEN_WAL)) {
        // Not a WAL: the real VFS's file takes the whole slot and keeps its own methods.
        return real->xOpen(real, name, base, flags, outFlags);
    }
    CSQLiteWalFile *file = (CSQLiteWalFile *)base;
    memset(file, 0, sizeof(CSQLiteWalFile));
    file->real = (sqlite3_file *)(file + 1);
    file->owner = owner;
    int rc = real->xOpen(real, name, file->real, flags, outFlags);
    // Per the VFS contract, pMethods must be NULL after a failed open so xClose is not called.
    file->base.pMethods = rc == SQLITE_OK ? &owner->methods : NULL;
    return rc;
}

/// Registers "builderai-wal" (not as the default VFS). Call once, before connections open with it.
static inline int csqlite_register_wal_coalescing(void) {
    if (sqlite3_vfs_find("builderai-wal")) return SQLITE_OK;
    sqlite3_vfs *real = sqlite3_vfs_find("unix");
    if (!real) return SQLITE_ERROR;
    CSQLiteWalVFS *owner = calloc(1, sizeof(CSQLiteWalVFS));
    if (!owner) return SQLITE_NOMEM;
    owner->real = real;
    owner->vfs = *real;
    owner->vfs.pNext = 0;
    owner->vfs.zName = "builderai-wal";
    // Room for either a WAL wrapper followed by the real file, or the real file alone.
    owner->vfs.szOsFile = (int)sizeof(CSQLiteWalFile) + real->szOsFile;
    owner->vfs.xOpen = csqlite_wal_vfs_open;
    // Version 1 methods: SQLite never maps a WAL file (the WAL index lives in the database file's
    // shared memory), so the shared-memory and fetch methods are not needed.
    owner->methods.iVersion = 1;
    owner->methods.xClose = csqlite_wal_close;
    owner->methods.xRead = csqlite_wal_read;
    owner->methods.xWrite = csqlite_wal_write;
    owner->methods.xTruncate = csqlite_wal_truncate;
    owner->methods.xSync = csqlite_wal_sync;
    owner->methods.xFileSize = csqlite_wal_file_size;
    owner->methods.xLock = csqlite_wal_lock;
    owner->methods.xUnlock = csqlite_wal_unlock;
    owner->methods.xCheckReservedLock = csqlite_wal_check_reserved_lock;
    owner->methods.xFileControl = csqlite_wal_file_control;
    owner->methods.xSectorSize = csqlite_wal_sector_size;
    owner->methods.xDeviceCharacteristics = csqlite_wal_device_characteristics;
    return sqlite3_vfs_register(&owner->vfs, 0);
}

/// For the WAL of a connection's main database: how many writes SQLite made to it since it was
/// opened, and how many reached the file. Returns 0 when the WAL is not open through this shim.
static inline int csqlite_wal_counters(sqlite3 *db, unsigned long long *writes, unsigned long long *flushes) {
    sqlite3_file *journal = 0;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &journal) != SQLITE_OK || !journal) return 0;
    CSQLiteWalVFS *owner = (CSQLiteWalVFS *)sqlite3_vfs_find("builderai-wal");
    if (!owner || journal->pMethods != &owner->methods) return 0;
    CSQLiteWalFile *file = (CSQLiteWalFile *)journal;
    *writes = file->writeCalls;
    *flushes = file->flushCalls;
    return 1;
}
