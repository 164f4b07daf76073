/* The SQLite back-end of the storage interface (store/store.h): the embedded default. One
 * handle is one SQLite connection (WAL, foreign keys, a busy timeout). */
#ifndef IOTAD_STORE_SQLITE_SQLITE_H
#define IOTAD_STORE_SQLITE_SQLITE_H

#include "store/store.h"

#include <sqlite3.h>

/* A handle over a connection the caller keeps owning (store_close leaves it open). NULL when
 * out of memory. */
store *store_sqlite_wrap(sqlite3 *db);
/* The connection under a SQLite handle (for the SQLite-only modules: tsdb, device_data). */
sqlite3 *store_sqlite_db(store *st);

#endif
