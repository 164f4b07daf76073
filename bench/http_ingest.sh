#!/usr/bin/env bash
# Measures iotad's HTTP ingest: starts iotad with a temporary data directory on free loopback
# ports, provisions one device (and API key) per connection over the REST API, then runs
# bench_loadgen in http mode: keep-alive connections POSTing JSON arrays of points to
# /api/v1/ingest with X-API-Key. Prints bench_loadgen's JSON object, then a summary line with
# points/s. Progress goes to stderr. Exit status is non-zero if the run failed (any non-2xx).
#
# Usage: bench/http_ingest.sh
# Environment: CONNS (16) BATCH (points per request, 1000) PPM (metrics per JSON object, 10)
#   DURATION (10 s) THREADS (loadgen threads, 1) BUILD_DIR (build) LOADGEN IOTAD KEEP_TMP=1
# Shares its helpers with bench/mqtt_vs_mosquitto.sh.

# shellcheck source=mqtt_vs_mosquitto.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/mqtt_vs_mosquitto.sh"

http_ingest_main() {
    bench_init
    bench_require_iotad
    local conns=${CONNS:-16} batch=${BATCH:-1000} ppm=${PPM:-10} duration=${DURATION:-10}
    local threads=${THREADS:-1}
    bench_start_iotad
    bench_provision "$conns" "$BENCH_TMP/creds.txt"
    bench_run iotad-http http --url "http://127.0.0.1:$IOTAD_HTTP_PORT/api/v1/ingest" \
        --creds "$BENCH_TMP/creds.txt" --connections "$conns" --batch "$batch" \
        --points-per-msg "$ppm" --duration "$duration" --threads "$threads"
    kill -0 "$IOTAD_PID" 2>/dev/null || {
        tail -n 20 "$BENCH_TMP/iotad.log" >&2
        bench_die "iotad died during the run (log above)"
    }
    bench_stop "$IOTAD_PID"
    $PY - "$BENCH_TMP/results.jsonl" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(json.dumps({"summary": "iotad_http_ingest", "ok": r.get("ok"),
                  "points_per_s": r.get("points_per_s"), "requests_per_s": r.get("requests_per_s"),
                  "batch": r.get("batch"), "p50_ms": r.get("p50_ms"), "p99_ms": r.get("p99_ms"),
                  "non_2xx": r.get("non_2xx")}))
EOF
    return "$BENCH_FAILED"
}

http_ingest_main "$@"
