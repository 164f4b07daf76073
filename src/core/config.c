/* Table-driven configuration. Every key lives once in `options` with its type, default,
 * help text and offset in `config`; files, the environment and flags all go through
 * config_set, so precedence is simply the order in which they are applied. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum { OPT_STR, OPT_INT, OPT_BOOL } opt_type;

typedef struct {
    const char *key;
    opt_type type;
    size_t offset;
    size_t size; /* for strings */
    const char *def;
    const char *help;
    bool secret;
    int64_t min, max;    /* for ints */
    const char *choices; /* for strings: "a|b|c" or NULL */
} option;

#define S(field, def, help, choices)                                                               \
    {                                                                                              \
#field, OPT_STR, offsetof(config, field), sizeof(((config *)0)->field), def, help, false,  \
            0, 0, choices                                                                          \
    }
#define I(field, def, min, max, help)                                                              \
    {                                                                                              \
#field, OPT_INT, offsetof(config, field), 0, def, help, false, min, max, NULL              \
    }
#define B(field, def, help)                                                                        \
    {                                                                                              \
#field, OPT_BOOL, offsetof(config, field), 0, def, help, false, 0, 0, NULL                 \
    }

static const option options[] = {
    S(data_dir, "./data", "directory for the database and state", NULL),
    S(http_listen, "0.0.0.0:8080", "HTTP/WebSocket listen address (ADDR:PORT)", NULL),
    S(mqtt_listen, "0.0.0.0:1883", "MQTT listen address (ADDR:PORT)", NULL),
    S(https_listen, "", "HTTPS/WebSocket (TLS) listen address, e.g. 0.0.0.0:8443 (empty: none)",
      NULL),
    S(mqtts_listen, "", "MQTT over TLS listen address, e.g. 0.0.0.0:8883 (empty: none)", NULL),
    S(tls_cert_file, "",
      "PEM certificate (and chain) of the TLS listeners; empty: a self-signed one is made in "
      "the data dir",
      NULL),
    S(tls_key_file, "", "PEM private key of tls_cert_file", NULL),
    S(tls_client_ca_file, "",
      "PEM CAs of device client certificates (MQTT over TLS; CN = device id); empty: none", NULL),
    S(log_level, "info", "debug|info|warn|error", "debug|info|warn|error|off"),
    S(log_format, "logfmt", "log lines as logfmt (key=value) or json (Elastic Common Schema)",
      "logfmt|json"),
    S(admin_email, "admin@localhost", "e-mail of the first Admin, created on first start", NULL),
    {"admin_password", OPT_STR, offsetof(config, admin_password), CONFIG_STR_MAX, "",
     "password of the first Admin (generated and printed once if empty)", true, 0, 0, NULL},
    {"metrics_token", OPT_STR, offsetof(config, metrics_token), CONFIG_STR_MAX, "",
     "bearer token /metrics requires (empty: /metrics is public)", true, 0, 0, NULL},
    S(key_file, "",
      "key file (audit MAC and signing keys, secret encryption keys); default "
      "<data_dir>/iotad.keys",
      NULL),
    S(audit_checkpoint_file, "",
      "signed audit checkpoints are appended here; default <data_dir>/audit.checkpoints", NULL),
    S(web_dir, "web/dist", "directory of the built dashboard served at /", NULL),
    S(trusted_origins, "",
      "origins the dashboard is served from when a proxy changes Host (\"https://iot.example\")",
      NULL),
    S(signup, "open", "self-registration: open|invite|off", "open|invite|off"),
    S(cookie_secure, "auto",
      "session cookie Secure: auto (when iotad serves HTTPS) | on (TLS ends at a proxy) | off",
      "auto|on|off"),
    S(store_sync, "full", "SQLite synchronous mode: full (power-safe) | normal", "full|normal"),
    {"store", OPT_STR, offsetof(config, store), sizeof(((config *)0)->store), "",
     "where the data is kept: empty = SQLite in data_dir (the default); "
     "postgresql://USER:PASSWORD@HOST:PORT/DB = PostgreSQL",
     true, 0, 0, NULL},
    I(shards, "0", 0, 256, "detector shard threads (0 = one per core)"),
    I(commit_interval_ms, "2", 0, 1000, "group-commit wait for more points (ms)"),
    I(queue_max_points, "1000000", 1000, 100000000, "ingest queue bound before back-pressure"),
    I(max_batch_points, "100000", 1, 10000000, "most points in one request or message"),
    I(max_series_per_device, "1000", 0, 100000000,
      "series (metric names) one device may have, its sys.* series included (0 = no limit)"),
    I(ingest_rate_points, "1000000", 0, 1000000000,
      "points per second one device may send, sustained (0 = no limit)"),
    I(ingest_burst_points, "10000000", 1, 10000000000, "points one device may send in a burst"),
    I(ingest_rate_messages, "500000", 0, 1000000000,
      "messages/requests per second one device may send, sustained (0 = no limit)"),
    I(ingest_burst_messages, "5000000", 1, 10000000000,
      "messages/requests one device may send in a burst"),
    I(max_body_bytes, "33554432", 1024, 1073741824, "largest HTTP request body (bytes)"),
    I(http_bodies_max_bytes, "67108864", 1048576, 68719476736,
      "request bodies held in memory at once, all HTTP connections (bytes; over it: 503)"),
    I(decode_threads, "0", 0, 64, "threads decoding large HTTP ingest bodies (0 = one per core)"),
    I(api_max_body_bytes, "1048576", 1024, 1073741824,
      "largest JSON body of a non-ingest API request (bytes; larger: 413)"),
    I(max_rollup_buckets, "10000", 10, 10000000,
      "most rollup buckets one series may span in a data request (more: 400 too_many_buckets)"),
    I(max_bulk_devices, "1000", 1, 100000, "most devices in one bulk registration request"),
    I(mqtt_max_packet, "262144", 128, 268435455, "largest MQTT packet (bytes)"),
    I(mqtt_receive_maximum, "1024", 1, 65535, "QoS 1 messages in flight per MQTT connection"),
    I(mqtt_sub_queue_bytes, "1048576", 4096, 1073741824,
      "output an MQTT subscriber (API token) may have queued; more is dropped and counted"),
    I(max_connections, "20000", 1, 1000000, "connections per listener"),
    I(max_connections_per_address, "1000", 0, 1000000,
      "connections from one source address, both listeners together (0 = no limit)"),
    I(fd_reserve, "256", 16, 100000,
      "file descriptors kept out of the connection budget (database, logs, outgoing)"),
    I(http_reserved_connections, "128", 0, 100000,
      "of the connection budget, kept for HTTP (API, dashboard) when devices fill it"),
    I(http_header_timeout_s, "10", 1, 3600,
      "time for a request's whole header to arrive (s; slow headers get 408)"),
    I(ts_max_past_s, "2592000", 0, 3153600000, "oldest accepted timestamp, seconds back (0 = any)"),
    I(ts_max_future_s, "300", 0, 3153600000, "newest accepted timestamp, seconds ahead (0 = any)"),
    I(retention_days, "30", 0, 36500, "days of raw points kept (0 = forever)"),
    I(session_idle_s, "86400", 60, 31536000, "session expiry after inactivity (s)"),
    I(session_max_s, "604800", 60, 31536000, "absolute session lifetime (s)"),
    I(login_max_failures, "5", 1, 1000, "failed logins before lockout"),
    I(login_lockout_s, "900", 1, 86400, "lockout duration (s)"),
    I(audit_checkpoint_s, "10", 1, 86400, "how often the audit head is signed and exported (s)"),
    I(signup_per_hour, "10", 0, 1000000, "sign-ups per source address per hour (0 = no limit)"),
    I(offline_timeout_s, "120", 5, 86400, "HTTP/WebSocket device offline after this silence (s)"),
    I(checkpoint_interval_s, "10", 1, 3600, "time-series checkpoint interval (s)"),
    I(wal_max_mb, "64", 1, 65536,
      "the SQLite WAL starts over (and its file is cut back) once above this size (MiB)"),
    I(peer_interval_s, "300", 1, 86400,
      "devices are compared with their peers over buckets of this much data time (s)"),
    I(peer_grace_s, "60", 1, 86400,
      "how long a peer bucket waits for devices still sending it (s)"),
    I(sys_interval_s, "10", 1, 3600, "interval of the per-device security counters (sys.*) (s)"),
    B(simulate, "false", "run the simulated device fleet inside the server"),
    I(sim_devices, "60", 1, 100000, "devices in the simulated fleet"),
    I(sim_backfill_days, "7", 0, 30,
      "days of history a new simulated fleet sends first, so detectors have learned (0 = none)"),
    S(bridge_url, "",
      "bridge mode: ingest from this MQTT broker, mqtt://host:1883 or mqtts://host:8883 "
      "(empty: off)",
      NULL),
    S(bridge_topic, "devices/+/telemetry",
      "bridge: topic filter devices publish to; its one '+' level is the device id", NULL),
    S(bridge_group, "iotad",
      "bridge: shared subscription group ($share/<group>/...): instances of a group split the "
      "messages (empty: each instance gets every message)",
      NULL),
    S(bridge_client_id, "",
      "bridge: MQTT client id, unique per instance and stable across restarts (default "
      "iotad-<host name>)",
      NULL),
    S(bridge_username, "", "bridge: user name at the broker (empty: none)", NULL),
    {"bridge_password", OPT_STR, offsetof(config, bridge_password), CONFIG_STR_MAX, "",
     "bridge: password at the broker", true, 0, 0, NULL},
    S(bridge_ca_file, "", "bridge: PEM CAs that verify an mqtts:// broker (empty: the system's)",
      NULL),
    I(bridge_session_expiry_s, "3600", 0, 4294967295,
      "bridge: how long the broker keeps iotad's session, queueing its messages, while iotad "
      "is away (s)"),
    I(bridge_queue_max, "10000", 1, 10000000,
      "bridge: messages received and not yet ingested before iotad stops reading the broker"),
    {"cluster", OPT_STR, offsetof(config, cluster), CONFIG_STR_MAX, "",
     "cluster mode: the RabbitMQ of the cluster bus, amqp://user:password@host:5672/vhost "
     "(empty: one node, no bus; docs/scaling.md)",
     true, 0, 0, NULL},
    I(cluster_partitions, "32", 1, 1024,
      "cluster: partition queues iotad.p0.. (every node of a cluster must use the same)"),
    I(cluster_prefetch, "256", 1, 65535,
      "cluster: batches a node takes from one partition before it has stored and acked them"),
    I(cluster_queue_max_mb, "16", 1, 65536,
      "cluster: bound of each partition queue on the broker (MiB); while one is full, ingest "
      "for its devices is refused (bus_full) until the consumers catch up"),
};
#define N_OPTIONS (sizeof options / sizeof options[0])

_Static_assert(N_OPTIONS <= sizeof(((config *)0)->source), "config.source too small");

static const option *find_option(const char *key, size_t *index)
{
    char norm[64];
    size_t n = strlen(key);
    if (n >= sizeof norm) return NULL;
    for (size_t i = 0; i <= n; i++)
        norm[i] = key[i] == '-' ? '_' : (char)tolower((unsigned char)key[i]);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strcmp(options[i].key, norm) == 0) {
            if (index) *index = i;
            return &options[i];
        }
    }
    return NULL;
}

static int choice_ok(const char *choices, const char *v)
{
    size_t vl = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && strncmp(p, v, l) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

int config_set(config *c, const char *key, const char *value, config_source src, char *err,
               size_t errcap)
{
    size_t idx;
    const option *o = find_option(key, &idx);
    if (!o) {
        snprintf(err, errcap, "unknown configuration key '%s'", key);
        return -1;
    }
    char *base = (char *)c + o->offset;
    switch (o->type) {
    case OPT_STR:
        if (strlen(value) >= o->size) {
            snprintf(err, errcap, "%s: value too long (max %zu bytes)", o->key, o->size - 1);
            return -2;
        }
        if (o->choices && !choice_ok(o->choices, value)) {
            snprintf(err, errcap, "%s: '%s' is not one of %s", o->key, value, o->choices);
            return -2;
        }
        memcpy(base, value, strlen(value) + 1);
        break;
    case OPT_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end || v < o->min || v > o->max) {
            snprintf(err, errcap, "%s: '%s' is not an integer in [%lld, %lld]", o->key, value,
                     (long long)o->min, (long long)o->max);
            return -2;
        }
        *(int64_t *)(void *)base = v;
        break;
    }
    case OPT_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes") ||
            !strcmp(value, "on"))
            *(bool *)base = true;
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no") ||
                 !strcmp(value, "off"))
            *(bool *)base = false;
        else {
            snprintf(err, errcap, "%s: '%s' is not a boolean", o->key, value);
            return -2;
        }
        break;
    }
    c->source[idx] = (unsigned char)src;
    return 0;
}

void config_defaults(config *c)
{
    memset(c, 0, sizeof *c);
    char err[128];
    for (size_t i = 0; i < N_OPTIONS; i++) {
        config_set(c, options[i].key, options[i].def, CONFIG_SRC_DEFAULT, err, sizeof err);
    }
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Reads the whole file with one bounded allocation. The file must be a regular file: opened
 * non-blocking, so a FIFO cannot hang the open, and checked with fstat, so /dev/zero, a
 * directory or a terminal is refused with a message instead of read forever or taken for an
 * empty file. */
int config_load_file(config *c, const char *path, char *err, size_t errcap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errcap, "cannot open config file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errcap, "cannot read config file %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "config file %s is not a regular file (%s)", path,
                 S_ISDIR(st.st_mode)    ? "a directory"
                 : S_ISFIFO(st.st_mode) ? "a pipe"
                 : S_ISCHR(st.st_mode)  ? "a character device"
                 : S_ISBLK(st.st_mode)  ? "a block device"
                 : S_ISSOCK(st.st_mode) ? "a socket"
                                        : "not a file");
        close(fd);
        return -1;
    }
    if (st.st_size > CONFIG_FILE_MAX) {
        snprintf(err, errcap, "config file %s is larger than %d bytes (%lld)", path,
                 CONFIG_FILE_MAX, (long long)st.st_size);
        close(fd);
        return -1;
    }
    /* one byte more than the limit: a file that grew since fstat is still refused */
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    if (!buf) {
        snprintf(err, errcap, "config file %s: out of memory", path);
        close(fd);
        return -1;
    }
    size_t n = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, CONFIG_FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errcap, "cannot read config file %s: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > CONFIG_FILE_MAX) {
            snprintf(err, errcap, "config file %s is larger than %d bytes", path, CONFIG_FILE_MAX);
            rc = -1;
            break;
        }
    }
    close(fd);
    if (rc == 0) rc = config_load_text(c, path, buf, n, err, errcap);
    free(buf);
    return rc;
}

int config_load_text(config *c, const char *name, const char *text, size_t len, char *err,
                     size_t errcap)
{
    char line[CONFIG_LINE_MAX + 1], msg[256];
    int lineno = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *next = nl ? nl + 1 : end;
        lineno++;
        if (l > CONFIG_LINE_MAX) {
            snprintf(err, errcap, "%s:%d: line longer than %d bytes", name, lineno,
                     CONFIG_LINE_MAX);
            return -1;
        }
        if (memchr(p, '\0', l)) {
            snprintf(err, errcap, "%s:%d: NUL byte (not a text file?)", name, lineno);
            return -1;
        }
        memcpy(line, p, l);
        line[l] = '\0';
        p = next;
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errcap, "%s:%d: expected 'key = value'", name, lineno);
            return -1;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        size_t vl = strlen(v);
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
            v[vl - 1] = '\0';
            v++;
        }
        if (config_set(c, k, v, CONFIG_SRC_FILE, msg, sizeof msg) != 0) {
            snprintf(err, errcap, "%s:%d: %s", name, lineno, msg);
            return -1;
        }
    }
    return 0;
}

int config_load_env(config *c, char *err, size_t errcap)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char name[80] = "IOTAD_";
        size_t n = strlen(options[i].key);
        for (size_t j = 0; j < n && j + 7 < sizeof name; j++)
            name[6 + j] = (char)toupper((unsigned char)options[i].key[j]);
        name[6 + n] = '\0';
        const char *v = getenv(name);
        if (!v) continue;
        char msg[256];
        if (config_set(c, options[i].key, v, CONFIG_SRC_ENV, msg, sizeof msg) != 0) {
            snprintf(err, errcap, "%s: %s", name, msg);
            return -1;
        }
    }
    return 0;
}

int config_parse_args(config *c, int argc, char **argv, char *err, size_t errcap)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errcap, "unexpected argument '%s' (see --help)", a);
            return -1;
        }
        a += 2;
        char key[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t kl = eq ? (size_t)(eq - a) : strlen(a);
        if (kl >= sizeof key) {
            snprintf(err, errcap, "unknown flag --%s", a);
            return -1;
        }
        memcpy(key, a, kl);
        key[kl] = '\0';
        if (!strcmp(key, "config")) { /* applied by the caller before the environment */
            if (!eq) i++;
            continue;
        }
        const option *o = find_option(key, NULL);
        if (!o) {
            snprintf(err, errcap, "unknown flag --%s (see --help)", key);
            return -1;
        }
        if (eq) {
            val = eq + 1;
        } else if (o->type == OPT_BOOL) {
            val = "true";
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            snprintf(err, errcap, "flag --%s needs a value", key);
            return -1;
        }
        char msg[256];
        if (config_set(c, key, val, CONFIG_SRC_FLAG, msg, sizeof msg) != 0) {
            snprintf(err, errcap, "--%s: %s", key, msg);
            return -1;
        }
    }
    return 0;
}

void config_print(const config *c, FILE *out)
{
    static const char *const src_names[] = {"default", "file", "env", "flag", "settings"};
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const option *o = &options[i];
        const char *base = (const char *)c + o->offset;
        fprintf(out, "%-24s = ", o->key);
        switch (o->type) {
        case OPT_STR:
            if (o->secret)
                fprintf(out, "%s", base[0] ? "(set, hidden)" : "(unset)");
            else
                fprintf(out, "%s", base);
            break;
        case OPT_INT:
            fprintf(out, "%lld", (long long)*(const int64_t *)(const void *)base);
            break;
        case OPT_BOOL:
            fprintf(out, "%s", *(const bool *)base ? "true" : "false");
            break;
        }
        fprintf(out, "    # %s\n", src_names[c->source[i]]);
    }
}

void config_print_help(FILE *out)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", options[i].key);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_') *p = '-';
        fprintf(out, "  %-26s %s (default: %s)\n", flag, options[i].help,
                options[i].def[0] ? options[i].def : "none");
    }
    fprintf(out, "  %-26s %s\n", "--config FILE", "read `key = value` lines from FILE first");
    fprintf(out, "\nEvery option can also be set as IOTAD_<KEY> in the environment (e.g. "
                 "IOTAD_HTTP_LISTEN).\nPrecedence: flag > environment > config file > default.\n");
}

void config_key_file(const config *c, char *out, size_t cap)
{
    if (c->key_file[0])
        snprintf(out, cap, "%s", c->key_file);
    else
        snprintf(out, cap, "%s/iotad.keys", c->data_dir);
}

void config_checkpoint_file(const config *c, char *out, size_t cap)
{
    if (c->audit_checkpoint_file[0])
        snprintf(out, cap, "%s", c->audit_checkpoint_file);
    else
        snprintf(out, cap, "%s/audit.checkpoints", c->data_dir);
}
