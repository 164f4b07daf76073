/* iotad command line: serve, config, replay, audit verify, secrets rotate|init, version. */
#include "alert/alerts.h"
#include "auth/keyfile.h"
#include "core/config.h"
#include "core/log.h"
#include "detect/replay.h"
#include "server.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/pg/pg.h"
#include "store/pg/store_pg.h"
#include "store/sqlite/sqlite.h"
#include "core/util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IOTAD_VERSION "0.1.0"

static void usage(FILE *out)
{
    fprintf(out,
            "iotad %s: real-time anomaly detection for IoT networks\n\n"
            "Usage: iotad <command> [options]\n\n"
            "Commands:\n"
            "  serve          run the server (MQTT, HTTP/WebSocket, dashboard)\n"
            "  config         print the effective configuration and where each value comes from\n"
            "  replay         run CSV files (NAB, SKAB) through the detectors\n"
            "  audit verify   check the audit log's keyed hash chain and signed checkpoints\n"
            "  secrets rotate re-encrypt stored secrets with a new key\n"
            "  secrets init   create a key file (for a cluster's nodes to share)\n"
            "  version        print the version\n\n"
            "Run 'iotad <command> --help' for a command's options.\n",
            IOTAD_VERSION);
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

/* defaults < --config file (or IOTAD_CONFIG) < environment < flags */
static int load_config(config *cfg, int argc, char **argv)
{
    char err[512];
    config_defaults(cfg);
    const char *file = getenv("IOTAD_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) file = argv[i + 1];
        if (!strncmp(argv[i], "--config=", 9)) file = argv[i] + 9;
    }
    if (file && config_load_file(cfg, file, err, sizeof err) != 0) goto fail;
    if (config_load_env(cfg, err, sizeof err) != 0) goto fail;
    if (config_parse_args(cfg, argc - 1, argv + 1, err, sizeof err) != 0) goto fail;
    log_level level;
    if (log_level_parse(cfg->log_level, &level) == 0) log_set_level(level);
    log_format format;
    if (log_format_parse(cfg->log_format, &format) == 0) log_set_format(format);
    return 0;
fail:
    fprintf(stderr, "iotad: %s\n", err);
    return -1;
}

static int cmd_serve(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        printf("Usage: iotad serve [options]\n\nOptions:\n");
        config_print_help(stdout);
        return 0;
    }
    config cfg;
    if (load_config(&cfg, argc, argv) != 0) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    umask(077); /* every file iotad creates (database, keys, checkpoints, exports) is private */
    signal(SIGPIPE, SIG_IGN); /* a peer that closed early must not kill the server */
    uv_loop_t loop;
    uv_loop_init(&loop);
    server s;
    if (server_start(&s, &cfg, &loop) != 0) {
        log_error("start_failed", "%s", "see the messages above");
        if (s.ready || s.http || s.mqtt || s.https || s.mqtts || s.writer || s.devloop)
            server_stop(&s);
        uv_run(&loop, UV_RUN_DEFAULT);
        server_destroy(&s);
        uv_loop_close(&loop);
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    server_destroy(&s);
    uv_loop_close(&loop);
    return s.exit_code;
}

static int cmd_config(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        printf("Usage: iotad config [options]\nPrints the effective configuration.\n\n");
        config_print_help(stdout);
        return 0;
    }
    config cfg;
    if (load_config(&cfg, argc, argv) != 0) return 2;
    config_print(&cfg, stdout);
    return 0;
}

/* Takes "--name VALUE" / "--name=VALUE" out of argv (so the rest goes to the configuration
 * parser); returns VALUE or NULL. */
static const char *take_flag(int *argc, char **argv, const char *name)
{
    size_t nl = strlen(name);
    for (int i = 1; i < *argc; i++) {
        const char *v = NULL;
        int drop = 0;
        if (!strcmp(argv[i], name) && i + 1 < *argc) {
            v = argv[i + 1];
            drop = 2;
        } else if (!strncmp(argv[i], name, nl) && argv[i][nl] == '=') {
            v = argv[i] + nl + 1;
            drop = 1;
        }
        if (drop) {
            for (int j = i; j + drop <= *argc; j++)
                argv[j] = argv[j + drop];
            *argc -= drop;
            return v;
        }
    }
    return NULL;
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* Opens the store of cfg without creating one: the PostgreSQL database of --store, or the
 * SQLite file in --data-dir (*db, closed by the caller after store_close). 0 or -1. */
static int open_existing_store(const config *cfg, sqlite3 **db, store **st)
{
    *db = NULL;
    *st = NULL;
    if (cfg->store[0]) {
        char err[300];
        if (!pg_is_url(cfg->store)) {
            fprintf(stderr, "iotad: --store must be empty (SQLite in --data-dir) or a "
                            "postgresql:// URL\n");
            return -1;
        }
        if (store_pg_open(cfg->store, st, err, sizeof err) != 0) {
            fprintf(stderr, "iotad: cannot open the PostgreSQL store: %s\n", err);
            return -1;
        }
        return 0;
    }
    char path[CONFIG_STR_MAX + 32];
    snprintf(path, sizeof path, "%s/iotad.db", cfg->data_dir);
    if (access(path, F_OK) != 0) {
        fprintf(stderr, "iotad: no database at %s (see --data-dir, --store)\n", path);
        return -1;
    }
    if (db_open(path, DB_SYNC_NORMAL, db) != 0) return -1;
    if (!(*st = store_sqlite_wrap(*db))) {
        db_close(*db);
        *db = NULL;
        return -1;
    }
    return 0;
}

static int audit_usage(FILE *out)
{
    fprintf(out,
            "Usage: iotad audit verify [--data-dir DIR] [--store URL] [--key-file FILE]\n"
            "                          [--checkpoint FILE] [--public-key HEX]\n"
            "       iotad audit public-key [--data-dir DIR] [--key-file FILE]\n\n"
            "verify checks the audit log's keyed hash chain and the signed checkpoints\n"
            "(default <data-dir>/audit.checkpoints; --checkpoint a copy kept elsewhere), so a\n"
            "rewritten chain and a cut tail are both found. --public-key verifies the\n"
            "checkpoints with that Ed25519 key instead of the key file's. Exits 0 when intact,\n"
            "1 when tampered with, 2 on errors.\n"
            "public-key prints the public key that verifies the checkpoints.\n");
    return out == stdout ? 0 : 2;
}

static int cmd_audit(int argc, char **argv)
{
    if (wants_help(argc, argv)) return audit_usage(stdout);
    if (argc < 2 || (strcmp(argv[1], "verify") && strcmp(argv[1], "public-key")))
        return audit_usage(stderr);
    bool verify = !strcmp(argv[1], "verify");
    argc--, argv++;
    const char *cp_file = take_flag(&argc, argv, "--checkpoint");
    const char *pub_hex = take_flag(&argc, argv, "--public-key");
    config cfg;
    if (load_config(&cfg, argc, argv) != 0) return 2;
    char key_path[CONFIG_STR_MAX + 32], default_cp[CONFIG_STR_MAX + 32], err[512];
    config_key_file(&cfg, key_path, sizeof key_path);
    config_checkpoint_file(&cfg, default_cp, sizeof default_cp);
    iotad_keys keys;
    int krc = keys_load(key_path, &keys, err, sizeof err);
    bool have_keys = krc == 0;
    if (krc == -2 || (!verify && !have_keys)) {
        fprintf(stderr, "iotad: %s\n", err);
        return 2;
    }
    uint8_t pub[32];
    if (pub_hex ? unhex(pub_hex, pub, 32) != 0 : have_keys && keys_sign_public(&keys, pub) != 0) {
        fprintf(stderr, "iotad: --public-key needs 64 hex digits\n");
        return 2;
    }
    if (!verify) {
        char hex[65];
        util_hex(pub, 32, hex);
        printf("%s\n", hex);
        keys_wipe(&keys);
        return 0;
    }
    sqlite3 *db;
    store *st;
    if (open_existing_store(&cfg, &db, &st) != 0) {
        keys_wipe(&keys);
        return 2;
    }
    int rc = 2;
    audit_checkpoint *cps = NULL;
    size_t ncps = 0;
    int64_t keyed_from = 0;
    int brc = have_keys ? audit_binding_read(st, keys.audit_mac, &keyed_from) : 1;
    bool bound = audit_is_bound(st);
    if (!have_keys && bound) {
        fprintf(stderr, "iotad: %s; this database's audit log is keyed and needs it\n", err);
        goto done;
    }
    if (have_keys && brc != 0) {
        printf("audit log BROKEN: %s\n",
               brc == 1 ? "the database has no binding to the key file (removed?)"
                        : "the database's key binding does not match the key file (altered, or "
                          "another key file)");
        rc = 1;
        goto done;
    }
    if (pub_hex || have_keys) {
        const char *path = cp_file ? cp_file : default_cp;
        if (audit_checkpoints_load(path, pub, cp_file == NULL, &cps, &ncps, err, sizeof err) != 0) {
            printf("audit checkpoints BROKEN: %s\n", err);
            rc = 1;
            goto done;
        }
    }
    audit_keying k = {have_keys ? keys.audit_mac : NULL, keyed_from};
    int64_t rows = 0, bad = 0;
    char why[128];
    int vrc = audit_verify_db_ex(st, &k, cps, ncps, &rows, &bad, why, sizeof why);
    if (vrc < 0) {
        fprintf(stderr, "iotad: cannot read the audit log\n");
        goto done;
    }
    if (vrc == 0) {
        printf("audit log intact: %lld entries verified", (long long)rows);
        if (have_keys) printf(", keyed (HMAC) from seq %lld", (long long)keyed_from);
        if (ncps)
            printf(", %zu signed checkpoints up to seq %lld", ncps, (long long)cps[ncps - 1].seq);
        printf("\n");
        if (!ncps) printf("warning: no signed checkpoints: a cut tail would not be detected\n");
        rc = 0;
    } else {
        printf("audit log BROKEN at seq %lld: %s (%lld entries read)\n", (long long)bad, why,
               (long long)rows);
        rc = 1;
    }
done:
    free(cps);
    keys_wipe(&keys);
    store_close(st);
    db_close(db);
    return rc;
}

/* iotad secrets init: a new key file, for the nodes of a cluster to share (the first node to
 * start on an empty database binds it; a node with another key file is refused). */
static int cmd_secrets_init(const config *cfg)
{
    char key_path[CONFIG_STR_MAX + 32], err[512];
    config_key_file(cfg, key_path, sizeof key_path);
    if (access(key_path, F_OK) == 0) {
        fprintf(stderr, "iotad: %s exists; init writes a new key file only where none is\n",
                key_path);
        return 2;
    }
    iotad_keys keys;
    int rc = keys_generate(&keys) == 0 && keys_save(key_path, &keys, err, sizeof err) == 0 ? 0 : 2;
    keys_wipe(&keys);
    if (rc != 0) {
        fprintf(stderr, "iotad: %s\n", err);
        return rc;
    }
    printf("key file written: %s (mode 0600). Give every node of the cluster this file (e.g. a\n"
           "Kubernetes Secret) before the first one starts, and back it up apart from the\n"
           "database.\n",
           key_path);
    return 0;
}

static int cmd_secrets(int argc, char **argv)
{
    bool init = argc >= 2 && !strcmp(argv[1], "init");
    if (wants_help(argc, argv) || argc < 2 || (strcmp(argv[1], "rotate") != 0 && !init)) {
        printf("Usage: iotad secrets rotate [--data-dir DIR] [--store URL] [--key-file FILE]\n"
               "       iotad secrets init [--data-dir DIR] [--key-file FILE]\n\n"
               "rotate: adds a new encryption key to the key file, re-encrypts every stored\n"
               "secret with it, then removes the old keys. Stop iotad first, every node of a\n"
               "cluster (a running iotad holds a shared lock on the key file, rotate the\n"
               "exclusive one). Back up the key file again afterwards, and give the new file to\n"
               "every node.\n"
               "init: writes a new key file (refusing to replace one), for the nodes of a\n"
               "cluster to share; the default is <data-dir>/iotad.keys.\n");
        return wants_help(argc, argv) ? 0 : 2;
    }
    config cfg;
    if (load_config(&cfg, argc - 1, argv + 1) != 0) return 2;
    if (init) return cmd_secrets_init(&cfg);
    char key_path[CONFIG_STR_MAX + 32], err[512];
    config_key_file(&cfg, key_path, sizeof key_path);
    iotad_keys keys;
    if (keys_load(key_path, &keys, err, sizeof err) != 0) {
        fprintf(stderr, "iotad: %s\n", err);
        return 2;
    }
    int lock = keys_lock(key_path, KEYS_LOCK_EXCLUSIVE);
    if (lock < 0) {
        fprintf(stderr, "iotad: the key file %s is in use: stop iotad first (every node)\n",
                key_path);
        keys_wipe(&keys);
        return 2;
    }
    sqlite3 *db = NULL;
    store *st = NULL;
    int rc = 2, count = 0;
    if (open_existing_store(&cfg, &db, &st) != 0) goto done;
    /* 1. the new key joins the file (old ones still open what is stored), 2. everything is
     * re-sealed in one transaction, 3. the old keys leave the file. A crash between the steps
     * leaves a file that opens every stored secret, and running rotate again finishes. */
    if (keys_add_secret(&keys) != 0) {
        fprintf(stderr, "iotad: the key file holds too many keys; rotate cannot add one\n");
        goto done;
    }
    if (keys_save(key_path, &keys, err, sizeof err) != 0) {
        fprintf(stderr, "iotad: %s\n", err);
        goto done;
    }
    server_secrets ops;
    server_secrets_wire(&keys, &ops);
    char bad[64];
    int rrc = st ? alert_secrets_reseal(st, &ops, &count, bad, sizeof bad) : -1;
    if (rrc != 0) {
        fprintf(stderr,
                "iotad: re-encryption failed (%s%s); nothing changed in the database (the key "
                "file now also holds the new key; run rotate again)\n",
                bad[0] ? "no key of the file opens the secret of channel " : "database error", bad);
        goto done;
    }
    keys.secret[0] = keys.secret[keys.n_secret - 1];
    keys.n_secret = 1;
    if (keys_save(key_path, &keys, err, sizeof err) != 0) {
        fprintf(stderr, "iotad: %s\n", err);
        goto done;
    }
    audit_set_keying(keys.audit_mac, 1);
    int64_t from = 0;
    if (audit_binding_read(st, keys.audit_mac, &from) == 0) {
        audit_set_keying(keys.audit_mac, from);
        char detail[64];
        snprintf(detail, sizeof detail, "key_id=%s count=%d", keys.secret[0].id, count);
        audit_append(st, "system", "secrets.rotate", "", detail, NULL);
    }
    printf("secrets rotated: %d re-encrypted with key %s; back up %s again\n", count,
           keys.secret[0].id, key_path);
    rc = 0;
done:
    keys_wipe(&keys);
    store_close(st);
    db_close(db);
    close(lock);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "config")) return cmd_config(argc - 1, argv + 1);
    if (!strcmp(cmd, "replay")) return det_replay_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "audit")) return cmd_audit(argc - 1, argv + 1);
    if (!strcmp(cmd, "secrets")) return cmd_secrets(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("iotad %s\n", IOTAD_VERSION);
        return 0;
    }
    fprintf(stderr, "iotad: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
