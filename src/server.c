/* Server lifecycle: start-up in dependency order (store, migrations, first Admin, live
 * device state, writer thread, listeners), a 1 s housekeeping tick, and a graceful stop on
 * SIGTERM/SIGINT that stops accepting, lets the writer commit everything queued (so every
 * acknowledged point is durable, and nothing half-received is acknowledged), checkpoints
 * the time-series store and closes every handle so the loop returns. */
#include "server.h"

#include "api/api.h"
#include "api/api_export.h"
#include "api/mqtt_sub.h"
#include "api/stream.h"
#include "auth/keyfile.h"
#include "auth/secretbox.h"
#include "auth/password.h"
#include "auth/throttle.h"
#include "alert/alerts.h"
#include "api/anomalies.h"
#include "api/population.h"
#include "report/reports.h"
#include "core/connlimit.h"
#include "core/log.h"
#include "core/looplag.h"
#include "core/subloop.h"
#include "pipeline/shards.h"
#include "core/util.h"
#include "core/workers.h"
#include "http/http_server.h"
#include "ingest/bridge.h"
#include "ingest/cluster.h"
#include "ingest/devstate.h"
#include "ingest/mqtt_ingest.h"
#include "ingest/ws_ingest.h"
#include "mqtt/mqtt_server.h"
#include "net/tls.h"
#include "sim/sim.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/pg/store_pg.h"
#include "store/sqlite/sqlite.h"
#include "store/writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ensure_dir(const char *path)
{
    struct stat st;
    if (mkdir(path, 0700) == 0) return 0;
    if (errno == EEXIST) {
        if (stat(path, &st) == 0 && (st.st_mode & 077))
            log_warn("data_dir_mode", "path=%s mode=%03o advice=\"chmod 700: only iotad needs it\"",
                     path, (unsigned)(st.st_mode & 0777));
        return 0;
    }
    log_error("data_dir_failed", "path=%s err=\"%s\"", path, strerror(errno));
    return -1;
}

/* Creates the first Admin when the database has no user (nodes starting together on one
 * PostgreSQL database take turns under the start-up lock: see start_shared). */
static int bootstrap_admin(server *s)
{
    if (STORE_USERS(s->st)->count(s->st) > 0) return 0;
    char password[CONFIG_STR_MAX];
    bool generated = s->cfg.admin_password[0] == '\0';
    if (generated) {
        uint8_t raw[12];
        if (util_random(raw, sizeof raw) != 0) return -1;
        util_hex(raw, sizeof raw, password);
    } else {
        snprintf(password, sizeof password, "%s", s->cfg.admin_password);
        /* the first Admin follows the same policy as every other account */
        const char *why = NULL;
        if (auth_password_policy(password, strlen(password), s->cfg.admin_email, &why) != 0) {
            explicit_bzero(password, sizeof password);
            log_error("admin_password_rejected", "email=%s reason=\"%s\"", s->cfg.admin_email,
                      why ? why : "policy");
            fprintf(stderr,
                    "iotad: the first Admin's password (IOTAD_ADMIN_PASSWORD / --admin-password) "
                    "is refused: %s\n  choose another, or leave it empty to have one generated\n",
                    why ? why : "password policy");
            return -1;
        }
    }
    char hash[256], id[UUID_STR_LEN + 1];
    if (auth_password_hash(password, strlen(password), hash, sizeof hash) != 0) return -1;
    util_uuid7(id);
    int64_t now = util_now_ms();
    int crc = STORE_USERS(s->st)->create(s->st, id, "Administrator", s->cfg.admin_email, hash,
                                         "admin", now);
    if (crc == STORE_ECONSTRAINT && STORE_USERS(s->st)->count(s->st) > 0) {
        /* another node made the first Admin meanwhile (a store without the start-up lock) */
        explicit_bzero(password, sizeof password);
        log_info("admin_exists", "email=%s note=\"made by another node\"", s->cfg.admin_email);
        return 0;
    }
    if (crc != STORE_OK) return -1;
    audit_append(s->st, "system", "user.bootstrap_admin", id, s->cfg.admin_email, NULL);
    if (generated && log_get_format() == LOG_FORMAT_JSON) {
        /* stdout is a log stream here: one JSON line, so a collector can parse it */
        fflush(stdout);
        log_write_fd(STDOUT_FILENO, LOG_WARN, "admin_password_generated",
                     "email=%s password=%s note=\"shown only now; set IOTAD_ADMIN_PASSWORD to "
                     "choose it\"",
                     s->cfg.admin_email, password);
    } else if (generated) {
        /* printed once, to stdout, never logged or stored */
        printf("\n  iotad: first Admin created\n    e-mail:   %s\n    password: %s\n"
               "  (shown only now; set IOTAD_ADMIN_PASSWORD to choose it)\n\n",
               s->cfg.admin_email, password);
        fflush(stdout);
    }
    explicit_bzero(password, sizeof password);
    log_info("admin_created", "email=%s generated_password=%s", s->cfg.admin_email,
             generated ? "yes" : "no");
    return 0;
}

/* Loads the key file, or creates it for a database that has never been bound to one; binds
 * the audit chain to the key and writes a first checkpoint. A database bound to a key whose
 * file is missing or different is refused: starting would make its secrets unreadable and
 * its audit log unverifiable. */
static int start_keys(server *s)
{
    char err[512];
    config_key_file(&s->cfg, s->key_path, sizeof s->key_path);
    config_checkpoint_file(&s->cfg, s->checkpoint_path, sizeof s->checkpoint_path);
    s->keys = calloc(1, sizeof *s->keys);
    if (!s->keys) return -1;
    int rc = keys_load(s->key_path, s->keys, err, sizeof err);
    if (rc == -1) {
        bool bound = audit_is_bound(s->st);
        if (bound) {
            log_error("key_file_missing", "path=%s", s->key_path);
            fprintf(stderr,
                    "iotad: the key file %s is missing, but this database was created with one.\n"
                    "  Restore it from your backup (or point --key-file at it). Without it the\n"
                    "  stored channel secrets cannot be read and the audit log not verified.\n"
                    "  The nodes of a cluster share one key file (docs/deploy.md).\n",
                    s->key_path);
            return -1;
        }
        if (keys_generate(s->keys) != 0 || keys_save(s->key_path, s->keys, err, sizeof err) != 0) {
            log_error("key_file_create_failed", "path=%s err=\"%s\"", s->key_path, err);
            return -1;
        }
        log_info("key_file_created", "path=%s note=\"back it up apart from the database\"",
                 s->key_path);
    } else if (rc != 0) {
        log_error("key_file_invalid", "err=\"%s\"", err);
        fprintf(stderr, "iotad: %s\n", err);
        return -1;
    }
    server_secrets_wire(s->keys, &s->secrets);
    /* shared: the nodes of a cluster may share the file; `secrets rotate` takes it whole */
    s->keys_lock_fd = keys_lock(s->key_path, KEYS_LOCK_SHARED);
    if (s->keys_lock_fd < 0) {
        log_error("key_file_locked", "path=%s err=\"%s\"", s->key_path, strerror(errno));
        fprintf(stderr,
                "iotad: cannot lock the key file %s (%s): `iotad secrets rotate` is using it\n",
                s->key_path, strerror(errno));
        return -1;
    }
    bool created = false;
    rc = audit_bind(s->st, s->keys->audit_mac, &s->audit_keyed_from, &created);
    if (rc == -1) {
        log_error("key_file_mismatch", "path=%s", s->key_path);
        fprintf(stderr,
                "iotad: the key file %s does not belong to this database (audit binding "
                "mismatch); use the key file that was created with it (the nodes of a cluster "
                "share one: `iotad secrets init`, docs/deploy.md)\n",
                s->key_path);
        return -1;
    }
    if (rc != 0) return -1;
    audit_set_keying(s->keys->audit_mac, s->audit_keyed_from);
    if (created) log_info("audit_keyed", "keyed_from=%lld", (long long)s->audit_keyed_from);
    char pubhex[65];
    if (keys_sign_public(s->keys, s->audit_pub) == 0) {
        util_hex(s->audit_pub, 32, pubhex);
        log_info("audit_checkpoints", "path=%s interval_s=%lld public_key=%s", s->checkpoint_path,
                 (long long)s->cfg.audit_checkpoint_s, pubhex);
    }
    s->audit_checkpointed = -1;
    if (audit_checkpoint_write(s->st, s->keys->audit_sign, s->checkpoint_path,
                               &s->audit_checkpointed) < 0)
        return -1;
    s->audit_anchored = true;
    return 0;
}

/* The start-up steps that write what every node shares: the key binding (and the key file,
 * when none exists yet) and the first Admin. On PostgreSQL several nodes may start at the
 * same moment on one empty database: they take turns under an advisory lock, so the second
 * finds the binding and the Admin made (and a key file path they share written). */
static int start_shared(server *s)
{
    bool locked = store_pg_conn(s->st) != NULL;
    if (locked && store_pg_startup_lock(s->st, true) != 0) {
        log_error("startup_lock_failed", "backend=postgresql");
        return -1;
    }
    int rc = start_keys(s);
    if (rc == 0 && bootstrap_admin(s) != 0) {
        log_error("admin_bootstrap_failed", "email=%s", s->cfg.admin_email);
        rc = -1;
    }
    if (locked && store_pg_startup_lock(s->st, false) != 0) rc = -1;
    return rc;
}

static int seal_secret(void *keys, const char *plain, const char *context, char *out, size_t cap)
{
    return secretbox_seal(keys, plain, context, out, cap);
}

static int open_secret(void *keys, const char *sealed, const char *context, char *out, size_t cap)
{
    return secretbox_open(keys, sealed, context, out, cap);
}

static bool current_secret(void *keys, const char *sealed)
{
    return secretbox_is_current(keys, sealed);
}

_Static_assert(SERVER_SEALED_MAX >= SECRETBOX_SEALED_MAX, "SERVER_SEALED_MAX too small");

void server_secrets_wire(struct iotad_keys_s *keys, server_secrets *out)
{
    *out = (server_secrets){keys, seal_secret, open_secret, current_secret};
}

/* PATCH /settings changed a run-time setting: the writer applies retention itself. */
static void on_setting_changed(server *s, const char *key)
{
    if (!strcmp(key, "retention_days") && s->writer)
        writer_set_retention(s->writer, s->cfg.retention_days * 86400000LL);
}

/* The certificate of the TLS listeners: the configured files, or a self-signed certificate
 * made in the data directory on the first start (and reused afterwards). */
static int start_tls(server *s)
{
    const config *c = &s->cfg;
    if (!c->https_listen[0] && !c->mqtts_listen[0]) return 0;
    char cert[CONFIG_STR_MAX + 32], key[CONFIG_STR_MAX + 32], err[512];
    if (c->tls_cert_file[0] || c->tls_key_file[0]) {
        snprintf(cert, sizeof cert, "%s", c->tls_cert_file);
        snprintf(key, sizeof key, "%s", c->tls_key_file);
    } else {
        snprintf(cert, sizeof cert, "%s/tls-cert.pem", c->data_dir);
        snprintf(key, sizeof key, "%s/tls-key.pem", c->data_dir);
        if (access(cert, F_OK) != 0 || access(key, F_OK) != 0) {
            char host[256] = "localhost";
            gethostname(host, sizeof host - 1);
            if (tls_self_signed(cert, key, host, err, sizeof err) != 0) {
                log_error("tls_self_signed_failed", "err=\"%s\"", err);
                return -1;
            }
            log_warn("tls_self_signed",
                     "cert=%s key=%s host=%s advice=\"clients must trust this "
                     "certificate (--cafile); set tls_cert_file/tls_key_file for a real one\"",
                     cert, key, host);
        }
    }
    tls_options o = {cert, key, c->tls_client_ca_file};
    if (tls_ctx_new(&o, &s->tls, err, sizeof err) != 0) {
        log_error("tls_failed", "err=\"%s\"", err);
        fprintf(stderr, "iotad: %s\n", err);
        return -1;
    }
    char desc[512];
    tls_ctx_describe(s->tls, desc, sizeof desc);
    log_info("tls_ready", "cert=%s %s client_ca=%s", cert, desc,
             c->tls_client_ca_file[0] ? c->tls_client_ca_file : "none");
    return 0;
}

static void on_hup(uv_signal_t *h, int signum)
{
    server *s = h->data;
    (void)signum;
    if (!s->tls) {
        log_info("signal", "signum=%d action=none (no TLS listener)", signum);
        return;
    }
    char err[512], desc[512];
    if (tls_ctx_reload(s->tls, err, sizeof err) != 0) {
        log_error("tls_reload_failed", "err=\"%s\" action=\"the previous certificate stays\"", err);
        return;
    }
    tls_ctx_describe(s->tls, desc, sizeof desc);
    log_info("tls_reloaded", "%s", desc);
}

/* The MQTT listeners' callbacks: a CONNECT with user name "token" is an integration's (its
 * connection is handed to api/mqtt_sub.c), every other one a device's (ingest/mqtt_ingest.c). */
static uint8_t mqtt_on_connect(void *ud, mqtt_conn *c, const mqtt_connect_info *info)
{
    server *s = ud;
    if (mqtt_sub_is_token_login(info)) return mqtt_sub_connect(s->mqtt_subs, c, info);
    return mqtt_ingest_callbacks()->on_connect(ud, c, info);
}

static const mqtt_callbacks *mqtt_callbacks_all(void)
{
    static mqtt_callbacks cb;
    cb = *mqtt_ingest_callbacks();
    cb.on_connect = mqtt_on_connect;
    return &cb;
}

static void drop_subscribers(server *s, const char *token_prefix, const char *user_id)
{
    mqtt_sub_drop(s->mqtt_subs, token_prefix, user_id);
}

static void on_drain(void *arg)
{
    server *s = arg;
    mqtt_ingest_resume_all(s);
    bridge_resume(s->bridge);
}

/* Log rows the detectors are through (their anomalies stored) are no longer needed for a
 * replay at the next start. */
static void on_detected(void *arg, int64_t watermark)
{
    server *s = arg;
    if (s->ts) STORE_TS(s->ts)->log_release(s->ts, watermark);
    ingest_cluster_detected(s, watermark); /* cluster mode: ack the messages now detected */
}

static void on_tick(uv_timer_t *t)
{
    server *s = t->data;
    int64_t now = util_now_ms();
    devstate_tick(s->devices, now);
    population_tick(s, s->population, now);
    if (s->reports) api_export_sweep(s);
    static const int64_t snapshot_every_ms = 300000;
    if (s->shards && now % snapshot_every_ms < 1000) shards_request_snapshots(s->shards);
    anomalies_persist_watermark(s);
    static const int64_t sweep_every_ms = 60000;
    if (s->audit_anchored && (now / 1000) % s->cfg.audit_checkpoint_s == 0)
        audit_checkpoint_write(s->st, s->keys->audit_sign, s->checkpoint_path,
                               &s->audit_checkpointed);
    if (now % sweep_every_ms < 1000) {
        STORE_USERS(s->st)->sessions_sweep(s->st, now, now - s->cfg.session_idle_s * 1000);
        auth_throttle_sweep(s->throttle, now);
        if (s->signups) auth_throttle_sweep(s->signups, now);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    server *s = h->data;
    log_info("signal", "signum=%d action=graceful_stop", signum);
    server_stop(s);
}

/* This node's id, kept in <data_dir>/node.id (created with a new UUID the first time): it
 * names the node's rows in a store shared by several nodes (PostgreSQL's points_log). */
static int node_id_load(const char *data_dir, char out[UUID_STR_LEN + 1])
{
    char path[CONFIG_STR_MAX + 32];
    snprintf(path, sizeof path, "%s/node.id", data_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char line[64] = "";
        bool ok = fgets(line, sizeof line, f) != NULL;
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        if (ok && strlen(line) == UUID_STR_LEN && util_uuid_valid(line)) {
            memcpy(out, line, UUID_STR_LEN + 1);
            return 0;
        }
        log_error("node_id_invalid", "path=%s", path);
        fprintf(stderr, "iotad: %s does not hold a node id (a UUID); remove it to get a new one\n",
                path);
        return -1;
    }
    util_uuid7(out);
    char tmp[CONFIG_STR_MAX + 40];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    bool ok = f && fprintf(f, "%s\n", out) > 0;
    if (f) { /* all three run, whatever the first ones return */
        bool flushed = fflush(f) == 0;
        bool synced = fsync(fileno(f)) == 0;
        bool closed = fclose(f) == 0;
        ok = ok && flushed && synced && closed;
    }
    if (!ok || rename(tmp, path) != 0) {
        log_error("node_id_write_failed", "path=%s", path);
        return -1;
    }
    log_info("node_id_created", "id=%s", out);
    return 0;
}

int server_start(server *s, const config *cfg, uv_loop_t *loop)
{
    memset(s, 0, sizeof *s);
    s->keys_lock_fd = -1;
    s->setting_set = config_set;
    s->setting_changed = on_setting_changed;
    s->cfg = *cfg;
    s->loop = loop;
    s->started_ms = util_now_ms();
    auth_password_init_from_env(); /* IOTAD_FAST_HASH=1: cheap hashes for tests only */
    if (ensure_dir(cfg->data_dir) != 0) return -1;
    char path[CONFIG_STR_MAX + 32];
    snprintf(path, sizeof path, "%s/iotad.db", cfg->data_dir);
    db_sync sync = strcmp(cfg->store_sync, "normal") == 0 ? DB_SYNC_NORMAL : DB_SYNC_FULL;
    if (cfg->store[0]) { /* PostgreSQL */
        char perr[300];
        if (!pg_is_url(cfg->store)) {
            log_error("store_invalid", "reason=\"not a postgresql:// URL\"");
            fprintf(stderr, "iotad: --store must be empty (SQLite in --data-dir) or a "
                            "postgresql:// URL\n");
            return -1;
        }
        if (store_pg_open(cfg->store, &s->st, perr, sizeof perr) != 0) {
            log_error("store_open_failed", "backend=postgresql err=\"%s\"", perr);
            fprintf(stderr, "iotad: cannot open the PostgreSQL store: %s\n", perr);
            return -1;
        }
    } else if (db_open(path, sync, &s->db) != 0 || db_migrate(s->db) != 0 ||
               !(s->st = store_sqlite_wrap(s->db))) {
        return -1;
    }
    log_info("store_open", "backend=%s", s->st->be->name);
    /* the log keeps what the detectors have not seen yet (anomalies_replay below) */
    int64_t detected = anomalies_saved_watermark(s);
    char node_id[UUID_STR_LEN + 1];
    if (node_id_load(cfg->data_dir, node_id) != 0) return -1;
    store_ts_options topt = {.log_keep_after = detected,
                             .full_sync = sync == DB_SYNC_FULL,
                             .wal_max_bytes = (uint64_t)cfg->wal_max_mb << 20,
                             .writer = node_id};
    char terr[256];
    if (store_ts_open(s->st, &topt, &s->ts, terr, sizeof terr) != 0) {
        log_error("tsdb_open_failed", "path=%s err=\"%s\"", path, terr);
        return -1;
    }
    char serr[300];
    if (api_settings_load(s, serr, sizeof serr) != 0) /* API changes win over the config */
        log_warn("setting_ignored", "reason=\"%s\"", serr);
    if (start_shared(s) != 0) return -1;
    auth_throttle_options th = {.max_failures = (int)cfg->login_max_failures,
                                .window_ms = 15 * 60000,
                                .lockout_ms = cfg->login_lockout_s * 1000,
                                .max_entries = 100000};
    s->throttle = auth_throttle_new(&th);
    auth_throttle_options sth = {.max_failures = (uint32_t)cfg->signup_per_hour,
                                 .window_ms = 3600000,
                                 .lockout_ms = 3600000,
                                 .max_entries = 100000};
    if (cfg->signup_per_hour > 0 && !(s->signups = auth_throttle_new(&sth))) return -1;
    s->devices = devstate_new(s);
    s->hub = stream_hub_new();
    s->ws_ingest = ws_ingest_new(s);
    s->population = population_new();
    if (!s->throttle || !s->devices || !s->hub || !s->ws_ingest) return -1;
    s->mqtt_subs = mqtt_sub_hub_new(s);
    if (!s->mqtt_subs) return -1;
    s->drop_subscribers = drop_subscribers;
    ev_listener live = stream_hub_listener(s->hub), msub = mqtt_sub_listener(s->mqtt_subs);
    if (ev_subscribe(&s->events, &live) != 0 || ev_subscribe(&s->events, &msub) != 0 ||
        devstate_load(s->devices) != 0)
        return -1;
    devstate_on_events(s->devices, anomalies_on_events, s);
    shards_options sopt = {.threads = cfg->shards > 0 ? (unsigned)cfg->shards
                                                      : (unsigned)uv_available_parallelism(),
                           .sys_interval_ms = cfg->sys_interval_s * 1000,
                           .peer_bucket_ms = cfg->peer_interval_s * 1000,
                           .on_detected = on_detected,
                           .on_detected_arg = s};
    if (shards_start(loop, &sopt, anomalies_on_events, s, &s->shards) != 0) return -1;
    anomalies_preload_snapshots(s);
    anomalies_load_rules(s);
    if (anomalies_replay(s, detected) != 0) return -1;
    writer_options wopt = {.checkpoint_interval_ms = cfg->checkpoint_interval_s * 1000,
                           .retention_ms = s->cfg.retention_days * 86400000LL,
                           .queue_max_points = (size_t)cfg->queue_max_points,
                           .max_series_per_device = (uint64_t)cfg->max_series_per_device};
    /* 1 ms: the longest an HTTP burst holds back MQTT reads and PUBACKs */
    if (subloop_start(loop, 1000, &s->devloop) != 0) return -1;
    uv_loop_t *devloop = subloop_loop(s->devloop);
    if (looplag_start(loop, 100, &s->lag_main) != 0 ||
        looplag_start(devloop, 100, &s->lag_dev) != 0)
        return -1;
    if (writer_start(devloop, s->ts, &wopt, &s->writer) != 0) return -1;
    writer_on_drain(s->writer, on_drain, s);
    if (ingest_cluster_start(s, devloop) != 0) return -1; /* its confirms release acks */

    unsigned ndecode = cfg->decode_threads > 0 ? (unsigned)cfg->decode_threads
                                               : (unsigned)uv_available_parallelism();
    if (workers_start(loop, ndecode, 10, &s->decoders) != 0) return -1;
    s->offload = workers_submit;
    connlimit_options lopt = {.per_address = (unsigned)cfg->max_connections_per_address,
                              .budget = connlimit_fd_budget((unsigned)cfg->fd_reserve),
                              .reserve = (unsigned)cfg->http_reserved_connections};
    if (!(s->limits = connlimit_new(&lopt))) return -1;
    log_info("connection_budget", "connections=%u http_reserved=%u per_address=%u", lopt.budget,
             lopt.reserve, lopt.per_address);
    http_server_options hopt = {.max_header_bytes = 16384,
                                .max_body_bytes = (size_t)cfg->max_body_bytes,
                                .max_body_bytes_total = (size_t)cfg->http_bodies_max_bytes,
                                .idle_timeout_ms = 120000,
                                .max_connections = (unsigned)cfg->max_connections,
                                .ws_max_message = 1 << 20,
                                .header_timeout_ms = (unsigned)cfg->http_header_timeout_s * 1000,
                                .limits = s->limits,
                                .yield = subloop_yield,
                                .yield_arg = s->devloop};
    static const http_callbacks hcb = {api_on_request, api_on_refused};
    if (http_server_start(loop, cfg->http_listen, &hopt, &hcb, s, &s->http) != 0) {
        log_error("listen_failed", "listener=http addr=%s option=http_listen", cfg->http_listen);
        return -1;
    }
    s->http_port = http_server_port(s->http);
    mqtt_server_options mopt = {.max_packet_size = (size_t)cfg->mqtt_max_packet,
                                .receive_maximum = (uint16_t)cfg->mqtt_receive_maximum,
                                .max_keepalive = 0,
                                .max_connections = (unsigned)cfg->max_connections,
                                .connect_timeout_ms = 10000,
                                .limits = s->limits,
                                .max_queued_bytes = (size_t)cfg->mqtt_sub_queue_bytes};
    if (mqtt_server_start(devloop, cfg->mqtt_listen, &mopt, mqtt_callbacks_all(), s, &s->mqtt) !=
        0) {
        log_error("listen_failed", "listener=mqtt addr=%s option=mqtt_listen", cfg->mqtt_listen);
        return -1;
    }
    if (start_tls(s) != 0) return -1;
    hopt.tls = mopt.tls = s->tls;
    if (cfg->https_listen[0] &&
        http_server_start(loop, cfg->https_listen, &hopt, &hcb, s, &s->https) != 0) {
        log_error("listen_failed", "listener=https addr=%s option=https_listen", cfg->https_listen);
        return -1;
    }
    if (cfg->mqtts_listen[0] && mqtt_server_start(devloop, cfg->mqtts_listen, &mopt,
                                                  mqtt_callbacks_all(), s, &s->mqtts) != 0) {
        log_error("listen_failed", "listener=mqtts addr=%s option=mqtts_listen", cfg->mqtts_listen);
        return -1;
    }
    uv_signal_init(loop, &s->sig_term);
    uv_signal_init(loop, &s->sig_int);
    s->sig_term.data = s->sig_int.data = s;
    uv_signal_start(&s->sig_term, on_signal, SIGTERM);
    uv_signal_start(&s->sig_int, on_signal, SIGINT);
    uv_signal_init(loop, &s->sig_hup);
    s->sig_hup.data = s;
    uv_signal_start(&s->sig_hup, on_hup, SIGHUP);
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, 1000, 1000);
    s->handles_on = true;
    if (alerts_start(s) != 0 || reports_start(s) != 0) return -1;
    if (cfg->simulate && sim_start(s, &s->sim) != 0) log_warn("sim_start_failed", "%s", "");
    if (cfg->bridge_url[0] && bridge_start(s, &s->bridge) != 0) return -1;
    s->ready = true;
    log_info("listening",
             "http_port=%d mqtt_port=%d data_dir=%s pid=%d https_port=%d mqtts_port=%d",
             http_server_port(s->http), mqtt_server_port(s->mqtt), cfg->data_dir, (int)getpid(),
             s->https ? http_server_port(s->https) : 0, s->mqtts ? mqtt_server_port(s->mqtts) : 0);
    return 0;
}

static void on_http_closed(void *arg)
{
    ((server *)arg)->http = NULL; /* the listener has freed itself */
}

static void on_mqtt_closed(void *arg)
{
    ((server *)arg)->mqtt = NULL;
}

static void on_https_closed(void *arg)
{
    ((server *)arg)->https = NULL;
}

static void on_mqtts_closed(void *arg)
{
    ((server *)arg)->mqtts = NULL;
}

void server_stop(server *s)
{
    if (s->stopping) return;
    /* the bridge first: what the broker has handed over reaches the writer while it takes
     * points (the broker already has its acknowledgement) */
    bridge_stop(s->bridge);
    s->bridge = NULL;
    ingest_cluster_pause(s); /* no more batches from the bus: unacked ones are redelivered */
    s->stopping = true;
    s->ready = false;
    log_info("stopping", "%s", "");
    if (s->sim) sim_stop(s->sim);
    alerts_stop(s);
    api_export_stop_all(s); /* streamed exports end before their reports module */
    reports_stop(s);
    mqtt_ingest_resume_all(s); /* drop back-pressure references before connections close */
    if (s->devices) devstate_save(s->devices); /* learned source addresses */
    /* Every device going offline below in one transaction: one commit, not two per device
     * (status and event; 5,000 MQTT connections took 42 s to stop, one fsync after another). */
    bool tx = s->st && store_begin(s->st) == STORE_OK;
    if (s->hub) stream_close_all(s->hub);
    if (s->ws_ingest) ws_ingest_close_all(s->ws_ingest);
    if (s->http) http_server_stop(s->http, on_http_closed, s);
    if (s->mqtt) mqtt_server_stop(s->mqtt, on_mqtt_closed, s);
    if (s->https) http_server_stop(s->https, on_https_closed, s);
    if (s->mqtts) mqtt_server_stop(s->mqtts, on_mqtts_closed, s);
    if (tx) store_commit_or_rollback(s->st);
    s->offload = NULL;
    workers_stop(s->decoders); /* bodies being decoded finish; their connections are closed */
    s->decoders = NULL;
    if (s->writer) writer_stop(s->writer); /* commits every queued point, runs completions */
    s->writer = NULL;
    if (s->shards) {
        uint64_t saved = s->m.snapshots_saved, failed = s->m.snapshots_failed;
        int64_t t0 = util_now_ms();
        shards_stop(s->shards); /* final detector snapshots are saved */
        s->shards = NULL;
        saved = s->m.snapshots_saved - saved;
        failed = s->m.snapshots_failed - failed;
        /* says at every stop that the learned state is safe, or how much of it is not */
        log_write(failed ? LOG_ERROR : LOG_INFO, "detector_state_saved",
                  "series=%llu failed=%llu ms=%lld watermark=%lld", (unsigned long long)saved,
                  (unsigned long long)failed, (long long)(util_now_ms() - t0),
                  (long long)s->detect_applied);
    }
    ingest_cluster_stop(s); /* acks what is detected, waits for the confirms in flight */
    anomalies_persist_watermark(s);
    looplag_stop(s->lag_dev);
    looplag_stop(s->lag_main);
    s->lag_dev = s->lag_main = NULL;
    subloop_stop(s->devloop);   /* the main loop returns once the device loop is empty too */
    if (!s->handles_on) return; /* a start that failed before them (a listen port in use) */
    s->handles_on = false;
    uv_timer_stop(&s->tick);
    uv_close((uv_handle_t *)&s->tick, NULL);
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    uv_close((uv_handle_t *)&s->sig_hup, NULL);
}

void server_destroy(server *s)
{
    subloop_free(s->devloop); /* its handles (the writer's among them) have closed */
    s->devloop = NULL;
    if (s->audit_anchored) /* the last head, after every thread that appends has stopped */
        audit_checkpoint_write(s->st, s->keys->audit_sign, s->checkpoint_path,
                               &s->audit_checkpointed);
    store_ts_close(s->ts); /* final checkpoint */
    s->ts = NULL;
    store_close(s->st);
    s->st = NULL;
    db_close(s->db);
    s->db = NULL;
    connlimit_free(s->limits); /* the listeners are gone */
    s->limits = NULL;
    devstate_free(s->devices);
    stream_hub_free(s->hub);
    mqtt_sub_hub_free(s->mqtt_subs); /* its connections closed with the listeners */
    ws_ingest_free(s->ws_ingest);
    population_free(s->population);
    auth_throttle_free(s->throttle);
    auth_throttle_free(s->signups);
    tls_ctx_free(s->tls); /* connections were closed with their listeners */
    s->tls = NULL;
    if (s->keys) keys_wipe(s->keys);
    free(s->keys);
    s->keys = NULL;
    if (s->keys_lock_fd >= 0) close(s->keys_lock_fd);
    s->keys_lock_fd = -1;
    log_info("stopped", "%s", "");
}
