/* Forensic export: raw points, anomalies, incidents, security/status events and audit entries
 * of a time range and a set of devices, as NDJSON or CSV, produced a piece at a time so the
 * server can stream gigabytes in constant memory. Every byte is hashed (SHA-256); the last
 * line is a manifest with the hash and the byte and record counts of everything before it:
 *
 *   NDJSON: {"type":"manifest","sha256":"<hex>","bytes":N,"records":{...},...}
 *   CSV:    manifest,<generated_at>,,sha256,<hex>,"{...same JSON...}"
 *
 * so `head -n -1 export.ndjson | sha256sum` proves the content later (the server also keeps
 * the manifest, and the audit log records it, which anchors the hash in the chain). */
#ifndef IOTAD_REPORT_EXPORT_H
#define IOTAD_REPORT_EXPORT_H

#include "core/util.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct server;

typedef enum { EXPORT_NDJSON = 0, EXPORT_CSV } export_format;

enum {
    EXPORT_POINTS = 1,
    EXPORT_ANOMALIES = 2,
    EXPORT_INCIDENTS = 4,
    EXPORT_EVENTS = 8,
    EXPORT_AUDIT = 16,
    EXPORT_ALL = 31,
};

#define EXPORT_DEVICES_MAX 2048 /* bytes of the comma-separated device list */

typedef struct {
    export_format format;
    unsigned what; /* EXPORT_* bits */
    int64_t from_ms, to_ms;
    char devices[EXPORT_DEVICES_MAX]; /* comma-separated device ids; "" = every device */
    char device_type[64];
    char owner_id[UUID_STR_LEN + 1]; /* "" = every owner (Analyst/Admin) */
    char created_by[UUID_STR_LEN + 1];
} export_params;

/* "points,anomalies,incidents,events,audit" (any subset, or "all") -> bits; -1 when invalid. */
int export_what_parse(const char *s, unsigned *out);

typedef struct export_job export_job;

/* Caller owns the job: export_free. NULL on allocation failure. */
export_job *export_new(struct server *s, const export_params *p, const char *export_id);
/* Produces the next piece of output, about `want` bytes (at least one record). *data stays
 * valid until the next call. Returns 1 more to come, 0 finished (the piece ends with the
 * manifest), negative on error. */
int export_next(export_job *e, size_t want, const char **data, size_t *len);
/* The manifest (valid after export_next returned 0). Caller frees. */
cJSON *export_manifest(const export_job *e);
/* Bytes and records produced so far (the manifest line excluded). */
void export_progress(const export_job *e, uint64_t *bytes, uint64_t *records);
void export_free(export_job *e);

#endif
