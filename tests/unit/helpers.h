/* Shared helpers of the unit tests (compiled into every tests/unit/test_*.c): temporary
 * directories, a migrated database, and assertions on points. */
#ifndef IOTAD_TESTS_UNIT_HELPERS_H
#define IOTAD_TESTS_UNIT_HELPERS_H

#include "core/point.h"

#include <sqlite3.h>
#include <stddef.h>

/* Creates a fresh directory /tmp/iotad-<tag>-XXXXXX into dir (cap >= 64); fails the test
 * otherwise. */
void th_tempdir(char *dir, size_t cap, const char *tag);
/* Removes dir and everything under it (ignores what is already gone). */
void th_rmtree(const char *dir);
/* Opens (creating) dir/iotad.db with every migration applied; fails the test otherwise. */
sqlite3 *th_open_db(const char *dir);
/* Fails the test unless p is the point (metric, ts_ms, value). */
void th_assert_point(const ingest_point *p, const char *metric, int64_t ts_ms, double value);

/* The URL a ctest fixture left for a real service (tests/services.py): the value of key
 * ("IOTAD_TEST_PG_URL", "IOTAD_TEST_AMQP_URL") in $IOTAD_TEST_SERVICES_DIR/env. 0, or -1
 * when there is none (run the test through ctest, which starts the service). */
int th_service_url(const char *key, char *out, size_t cap);

/* A fresh, empty database on the ctest fixture's PostgreSQL; its URL in url. Fails the test
 * when there is no fixture. */
void th_pg_fresh_db(char *url, size_t cap);

#endif
