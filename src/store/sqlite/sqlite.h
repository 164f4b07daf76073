/* The SQLite back-end of the storage interface (store/store.h): the embedded default. One
 * handle is one SQLite connection (WAL, foreign keys, a busy timeout). */
#ifndef IOTAD_STORE_SQLITE_SQLITE_H
#define IOTAD_STORE_SQLITE_SQLITE_H

#include "store/store.h"

#include <sqlite3.h>

/* A handle over a connection the caller keeps owning (store_close leaves it open). NULL when
 * out of memory. */
store *store_sqlite_wrap(sqlite3 *db);
/* Opens an owned connection to the database at path (WAL, foreign keys, busy timeout);
 * full_sync: synchronous=FULL, else NORMAL. 0 ok, -1 error (logged). */
int store_sqlite_open(const char *path, bool full_sync, store **out);
struct tsdb;
/* A time-series store over a tsdb the caller opened and keeps (store_ts_close frees only the
 * wrapper): for tests and benchmarks that drive tsdb directly. wdb: tsdb's write connection.
 * NULL when out of memory. */
store_ts *store_sqlite_ts_wrap(struct tsdb *t, sqlite3 *wdb);
/* The connection under a SQLite handle (for the SQLite-only modules: tsdb, device_data). */
sqlite3 *store_sqlite_db(store *st);

#endif
