/* Counters exported at /metrics in the Prometheus text format. Updated on the loop thread;
 * the writer and listeners keep their own stats, merged in at render time. */
#ifndef IOTAD_CORE_METRICS_H
#define IOTAD_CORE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { TRANSPORT_MQTT, TRANSPORT_HTTP, TRANSPORT_WS, TRANSPORT_COUNT } transport;

typedef enum {
    REJECT_AUTH = 0,     /* unknown device, bad or revoked key */
    REJECT_ACL,          /* topic outside the device's tree */
    REJECT_SYNTAX,       /* malformed payload */
    REJECT_TYPE,         /* wrong value types */
    REJECT_NONFINITE,    /* NaN / Inf */
    REJECT_TIMESTAMP,    /* unparseable or beyond the allowed skew */
    REJECT_METRIC,       /* bad or reserved metric name */
    REJECT_TOO_LARGE,    /* oversized payload or batch */
    REJECT_EMPTY,        /* no points */
    REJECT_UNAVAILABLE,  /* store failure or shutting down */
    REJECT_TOO_DEEP,     /* JSON nested deeper than the decoder's limit */
    REJECT_SERIES_LIMIT, /* new metric names beyond max_series_per_device */
    REJECT_RATE_LIMITED, /* faster than ingest_rate_points / ingest_rate_messages */
    REJECT_PROTOCOL,     /* breaks its protocol (malformed MQTT packet, HTTP framing, WebSocket
                          * frame): the connection is closed */
    REJECT_UNSUPPORTED,  /* a well-formed MQTT CONNECT asking for what the server does not offer */
    REJECT_BUS_FULL,     /* cluster mode: the partition queue at its bound (cluster_queue_max_mb) */
    REJECT_COUNT
} reject_reason;

/* What became of a message from the bridged broker (ingest/bridge.c). */
typedef enum {
    BRIDGE_INGESTED,
    BRIDGE_UNKNOWN_DEVICE, /* the topic names no registered device */
    BRIDGE_BAD_TOPIC,      /* the topic does not match bridge_topic */
    BRIDGE_REFUSED,        /* decoding, limits or the store refused it */
    BRIDGE_RESULT_COUNT
} bridge_result;

typedef struct {
    uint64_t points_in[TRANSPORT_COUNT];
    uint64_t messages_in[TRANSPORT_COUNT];
    uint64_t bytes_in[TRANSPORT_COUNT];
    uint64_t rejected[TRANSPORT_COUNT][REJECT_COUNT];
    uint64_t logins_ok, logins_failed, logins_locked;
    uint64_t api_requests, api_denied;
    uint64_t api_gzip_responses, api_gzip_saved_bytes; /* JSON answers sent gzip'ed */
    uint64_t api_body_too_large, api_body_too_deep;    /* API JSON bodies refused unparsed */
    uint64_t rollups_refused;                          /* data requests over max_rollup_buckets */
    uint64_t bulk_devices_refused; /* bulk registrations refused whole (any item invalid) */
    uint64_t bulk_devices_created; /* devices registered through the bulk endpoint */
    uint64_t csrf_refused;         /* cookie requests without a same-origin proof */
    uint64_t signups_ok, signups_limited;
    uint64_t decode_submitted, decode_done; /* HTTP bodies decoded off the loop */
    uint64_t backpressure_pauses;
    uint64_t sys_intervals, sys_points;         /* security counter flushes, sys.* points written */
    uint64_t anomalies_opened[3];               /* by severity: info, warning, critical */
    uint64_t snapshots_saved, snapshots_failed; /* detector state rows written / not */
    struct {                                    /* bridge mode; exported when on */
        bool on, connected;
        uint64_t connects, connect_failures, queued;
        uint64_t messages[BRIDGE_RESULT_COUNT];
    } bridge;
} metrics;

const char *bridge_result_name(bridge_result r);

const char *transport_name(transport t);
const char *reject_reason_name(reject_reason r);

#endif
