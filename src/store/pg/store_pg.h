/* The PostgreSQL back-end of the storage interface (store/store.h), beside the SQLite one:
 * one handle is one libpq connection. The schema and migrations are store/pg/schema.c; the
 * concerns are one file each, as in store/sqlite/. */
#ifndef IOTAD_STORE_PG_STORE_PG_H
#define IOTAD_STORE_PG_STORE_PG_H

#include "store/pg/pg.h"
#include "store/store.h"

/* Connects to url (postgresql://...) and applies the migrations. 0, or -1 with the reason in
 * err (cap bytes). */
int store_pg_open(const char *url, store **out, char *err, size_t cap);
/* Takes (take) or releases the session-level advisory lock that serialises the start of
 * nodes on one database (the key binding and the first Admin: the second node to start finds
 * them made). Waits while another node holds it. 0, or -1 (connection error). */
int store_pg_startup_lock(store *st, bool take);
/* The connection under a PostgreSQL handle (NULL for another back-end's handle). */
pg_conn *store_pg_conn(store *st);

#endif
