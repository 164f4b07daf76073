/* iotad command line: serve, config, replay, audit verify, version. */
#include "core/config.h"
#include "core/log.h"
#include "detect/replay.h"
#include "server.h"
#include "store/audit.h"
#include "store/db.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
            "  audit verify   check the audit log's hash chain\n"
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
    signal(SIGPIPE, SIG_IGN); /* a peer that closed early must not kill the server */
    uv_loop_t loop;
    uv_loop_init(&loop);
    server s;
    if (server_start(&s, &cfg, &loop) != 0) {
        log_error("start_failed", "%s", "see the messages above");
        if (s.ready || s.http || s.mqtt || s.writer) server_stop(&s);
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

static int cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "verify") != 0 || wants_help(argc, argv)) {
        printf("Usage: iotad audit verify [--data-dir DIR]\n"
               "Checks the audit log's hash chain; exits 0 when intact, 1 when broken.\n");
        return argc >= 2 && wants_help(argc, argv) ? 0 : 2;
    }
    config cfg;
    if (load_config(&cfg, argc - 1, argv + 1) != 0) return 2;
    char path[CONFIG_STR_MAX + 32];
    snprintf(path, sizeof path, "%s/iotad.db", cfg.data_dir);
    sqlite3 *db;
    if (db_open(path, DB_SYNC_NORMAL, &db) != 0) return 2;
    int64_t rows = 0, bad = 0;
    char why[128];
    int rc = audit_verify_db(db, &rows, &bad, why, sizeof why);
    db_close(db);
    if (rc < 0) {
        fprintf(stderr, "iotad: cannot read the audit log in %s\n", path);
        return 2;
    }
    if (rc == 0) {
        printf("audit log intact: %lld entries verified\n", (long long)rows);
        return 0;
    }
    printf("audit log BROKEN at seq %lld: %s (%lld entries read)\n", (long long)bad, why,
           (long long)rows);
    return 1;
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
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("iotad %s\n", IOTAD_VERSION);
        return 0;
    }
    fprintf(stderr, "iotad: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
