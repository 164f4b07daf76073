/* `device_data`: the brief's Device_Data table (id, device_id, timestamp, metric, value) as a
 * read-only SQLite virtual table over the compact time-series store, so SQL in iotad (reports,
 * exports, ad-hoc queries) sees points in the brief's shape although they are stored as
 * compressed per-series chunks. Constraints on device_id, metric and timestamp are pushed
 * down to the store. */
#ifndef IOTAD_STORE_DEVICE_DATA_H
#define IOTAD_STORE_DEVICE_DATA_H

#include <sqlite3.h>

struct tsdb;

/* Registers device_data on db (a connection the tsdb reads with); 0 ok. */
int device_data_register(sqlite3 *db, struct tsdb *ts);

#endif
