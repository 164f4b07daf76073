#!/usr/bin/env bash
# The two store back-ends side by side in one run: the same iotad binary on SQLite (the
# default, data_dir/iotad.db, store_sync full) and on PostgreSQL 15 (--store postgresql://,
# a throw-away server from tests/services.py with fsync on), under the same fixed load:
# MQTT QoS 1 (16 connections, 100 in flight, one point per message) then HTTP ingest
# (batches of 1,000 points), DURATION s each. ROUNDS rounds, the order of the back-ends
# alternating; each round a fresh iotad and a fresh database. Reported: points/s per run and
# the PostgreSQL/SQLite ratio per round and their median (the shared machine's noise shows as
# the spread), then, after iotad's final checkpoint, PostgreSQL's bytes per stored point (the
# chunk partitions and the series table: heap, index, TOAST; pg_total_relation_size) and
# the tsz payload's alone.
#
# Usage: bench/store_ab.sh        Environment: ROUNDS (3) DURATION (5) CONNS (16) IOTAD LOADGEN
# Prints one JSON line per run and a final {"summary": "store_ab", ...} line.

# shellcheck source=mqtt_vs_mosquitto.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/mqtt_vs_mosquitto.sh"

store_ab_main() {
    bench_init
    bench_require_iotad
    local rounds=${ROUNDS:-3} duration=${DURATION:-5} conns=${CONNS:-16} r b
    chmod 755 "$BENCH_TMP" # the postgres user reaches its directory through it
    IOTAD_PG_FSYNC=1 $PY "$BENCH_ROOT/tests/services.py" start postgres "$BENCH_TMP/pg" >/dev/null ||
        bench_die "PostgreSQL did not start"
    trap '$PY "$BENCH_ROOT/tests/services.py" stop "$BENCH_TMP/pg" >/dev/null 2>&1; bench_cleanup' EXIT
    local pg_url
    pg_url=$(sed -n 's/^IOTAD_TEST_PG_URL=//p' "$BENCH_TMP/pg/env")
    local base=${pg_url%/*}
    for r in $(seq "$rounds"); do
        local order=(sqlite postgresql)
        ((r % 2 == 0)) && order=(postgresql sqlite)
        for b in "${order[@]}"; do
            rm -rf "$BENCH_TMP/iotad-data"
            BENCH_IOTAD_ARGS=
            if [[ $b == postgresql ]]; then
                psql -X -q "$pg_url" -c "CREATE DATABASE ab_$r" || bench_die "CREATE DATABASE"
                BENCH_IOTAD_ARGS="--store $base/ab_$r"
            fi
            bench_start_iotad
            bench_provision "$conns" "$BENCH_TMP/creds.txt"
            bench_run "$b-mqtt-$r" mqtt --port "$IOTAD_MQTT_PORT" --creds "$BENCH_TMP/creds.txt" \
                --host 127.0.0.1 --connections "$conns" --duration "$duration" --qos 1 \
                --inflight 100 --ts-lag 7200
            bench_run "$b-http-$r" http --url "http://127.0.0.1:$IOTAD_HTTP_PORT/api/v1/ingest" \
                --creds "$BENCH_TMP/creds.txt" --connections 4 --batch 1000 \
                --duration "$duration" --ts-lag 3600
            kill -0 "$IOTAD_PID" 2>/dev/null || bench_die "iotad died during the runs"
            bench_stop "$IOTAD_PID" # the final checkpoint writes the heads as chunks
            if [[ $b == postgresql ]]; then
                psql -X -At "$base/ab_$r" -c "SELECT json_build_object('label', 'pg-size-$r',
                    'points', (SELECT COALESCE(SUM(count), 0) FROM chunks),
                    'chunks', (SELECT COUNT(*) FROM chunks),
                    'payload_bytes', (SELECT COALESCE(SUM(octet_length(data)), 0) FROM chunks),
                    'bytes', (SELECT COALESCE(SUM(pg_total_relation_size(i.inhrelid)), 0)
                              FROM pg_inherits i WHERE i.inhparent = 'chunks'::regclass)
                             + pg_total_relation_size('series'))" \
                    >>"$BENCH_TMP/results.jsonl"
                tail -n 1 "$BENCH_TMP/results.jsonl"
            fi
        done
    done
    $PY - "$BENCH_TMP/results.jsonl" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {r["label"]: r for r in runs}
out = {"summary": "store_ab"}
for kind in ("mqtt", "http"):
    ratios = []
    for k in sorted(set(l.rsplit("-", 1)[1] for l in by if l.startswith("sqlite-" + kind))):
        s, p = by.get(f"sqlite-{kind}-{k}", {}), by.get(f"postgresql-{kind}-{k}", {})
        key = "msgs_per_s" if kind == "mqtt" else "points_per_s"
        if s.get("ok") and p.get("ok") and s.get(key) and p.get(key) is not None:
            ratios.append(round(p[key] / s[key], 3))
    out[kind + "_pg_over_sqlite"] = {"per_round": ratios,
                                     "median": statistics.median(ratios) if ratios else None}
sizes = [r for r in runs if r.get("label", "").startswith("pg-size-") and r.get("points")]
out["pg_bytes_per_point"] = [round(r["bytes"] / r["points"], 2) for r in sizes]
# the tsz payload alone: what the on-disk figure tends to as the fixed per-partition and
# per-row costs (empty days' partitions, tuple headers, index) are spread over more points
out["pg_payload_bytes_per_point"] = [round(r["payload_bytes"] / r["points"], 2) for r in sizes]
out["all_ok"] = all(r.get("ok", True) for r in runs)
print(json.dumps(out))
EOF
    return "$BENCH_FAILED"
}

store_ab_main "$@"
