/* iotad configuration: one defaults table, overridden in order by a config file
 * (`key = value` lines), IOTAD_* environment variables and command-line flags.
 * `iotad config` prints the effective values and where each came from. */
#ifndef IOTAD_CORE_CONFIG_H
#define IOTAD_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_STR_MAX 256

typedef struct {
    char data_dir[CONFIG_STR_MAX];
    char http_listen[CONFIG_STR_MAX];
    char mqtt_listen[CONFIG_STR_MAX];
    char https_listen[CONFIG_STR_MAX]; /* "" = no HTTPS listener */
    char mqtts_listen[CONFIG_STR_MAX]; /* "" = no MQTT over TLS listener */
    char tls_cert_file[CONFIG_STR_MAX];
    char tls_key_file[CONFIG_STR_MAX];
    char tls_client_ca_file[CONFIG_STR_MAX];
    char log_level[16];
    char log_format[16];
    char admin_email[CONFIG_STR_MAX];
    char admin_password[CONFIG_STR_MAX];        /* secret: never printed */
    char metrics_token[CONFIG_STR_MAX];         /* secret: /metrics needs it when set */
    char key_file[CONFIG_STR_MAX];              /* "" = <data_dir>/iotad.keys */
    char audit_checkpoint_file[CONFIG_STR_MAX]; /* "" = <data_dir>/audit.checkpoints */
    char web_dir[CONFIG_STR_MAX];
    char trusted_origins[CONFIG_STR_MAX]; /* origins allowed besides the request's own host */
    char signup[16];                      /* open | invite | off */
    char store_sync[16];                  /* full | normal */
    char store[512];       /* "" = SQLite in data_dir; postgresql://... = PostgreSQL (a secret) */
    char cookie_secure[8]; /* auto | on | off */
    int64_t shards;        /* 0 = one per core */
    int64_t commit_interval_ms;
    int64_t queue_max_points;
    int64_t max_batch_points;
    int64_t max_series_per_device;
    int64_t ingest_rate_points, ingest_burst_points;
    int64_t ingest_rate_messages, ingest_burst_messages;
    int64_t max_body_bytes;
    int64_t api_max_body_bytes;
    int64_t max_rollup_buckets; /* per series and data request */
    int64_t max_bulk_devices;   /* per bulk registration request */
    int64_t http_bodies_max_bytes;
    int64_t decode_threads; /* 0 = one per core */
    int64_t mqtt_max_packet;
    int64_t mqtt_receive_maximum;
    int64_t mqtt_sub_queue_bytes;
    int64_t max_connections;
    int64_t max_connections_per_address;
    int64_t fd_reserve;
    int64_t http_reserved_connections;
    int64_t http_header_timeout_s;
    int64_t ts_max_past_s;
    int64_t ts_max_future_s;
    int64_t retention_days;
    int64_t session_idle_s;
    int64_t session_max_s;
    int64_t login_max_failures;
    int64_t login_lockout_s;
    int64_t signup_per_hour;
    int64_t audit_checkpoint_s;
    int64_t offline_timeout_s;
    int64_t checkpoint_interval_s;
    int64_t wal_max_mb;
    int64_t peer_interval_s;
    int64_t peer_grace_s;
    int64_t sys_interval_s;
    bool simulate;
    int64_t sim_devices;
    int64_t sim_backfill_days;
    char bridge_url[CONFIG_STR_MAX]; /* "" = no bridge (src/ingest/bridge.c) */
    char bridge_topic[CONFIG_STR_MAX];
    char bridge_group[CONFIG_STR_MAX]; /* "" = a plain (not shared) subscription */
    char bridge_client_id[CONFIG_STR_MAX];
    char bridge_username[CONFIG_STR_MAX];
    char bridge_password[CONFIG_STR_MAX]; /* secret */
    char bridge_ca_file[CONFIG_STR_MAX];
    int64_t bridge_session_expiry_s;
    int64_t bridge_queue_max;
    char cluster[CONFIG_STR_MAX]; /* "" = one node; amqp://... = the cluster bus (secret) */
    int64_t cluster_partitions;
    int64_t cluster_prefetch;
    int64_t cluster_queue_max_mb;
    unsigned char source[96]; /* config_source of each option, by table index */
} config;

typedef enum {
    CONFIG_SRC_DEFAULT,
    CONFIG_SRC_FILE,
    CONFIG_SRC_ENV,
    CONFIG_SRC_FLAG,
    CONFIG_SRC_SETTINGS /* changed by an Admin over the API (stored in the database) */
} config_source;

void config_defaults(config *c);
#define CONFIG_FILE_MAX (1024 * 1024) /* largest config file (bytes) */
#define CONFIG_LINE_MAX 1023          /* longest line of a config file (bytes) */

/* Applies `key = value` lines from a regular file of at most CONFIG_FILE_MAX bytes (a
 * directory, FIFO or device is refused); returns 0, or -1 with a message in err. */
int config_load_file(config *c, const char *path, char *err, size_t errcap);
/* The same for text already in memory (len bytes, NUL bytes refused); name is used in
 * messages ("name:line: ..."). */
int config_load_text(config *c, const char *name, const char *text, size_t len, char *err,
                     size_t errcap);
/* Applies IOTAD_<KEY> variables from the environment. */
int config_load_env(config *c, char *err, size_t errcap);
/* Sets one key ("http_listen" or "http-listen"); returns 0, -1 unknown key, -2 bad value. */
int config_set(config *c, const char *key, const char *value, config_source src, char *err,
               size_t errcap);
/* Parses argv flags (--key value or --key=value, --flag for booleans); leaves positional
 * arguments out. Returns 0, or -1 with err set. --config FILE is applied first. */
int config_parse_args(config *c, int argc, char **argv, char *err, size_t errcap);
/* Prints every key with its value and source; secrets masked. */
void config_print(const config *c, FILE *out);
/* Prints flag help lines. */
void config_print_help(FILE *out);
/* Paths derived from data_dir when not set: the key file and the audit checkpoint file. */
void config_key_file(const config *c, char *out, size_t cap);
void config_checkpoint_file(const config *c, char *out, size_t cap);

#endif
