#!/usr/bin/env bash
# Durable ingest through the cluster bus (iotad serve --cluster amqp://..., one node on the
# embedded SQLite store, RabbitMQ 3.10 started on free loopback ports and removed afterwards)
# against the embedded path, with the same MQTT QoS 1 load, in one run. For each: the device's
# view (bench_loadgen: QoS 1 messages acknowledged per second, ack latency p50/p99; on the bus
# the ack follows the broker's confirm) and the durable end-to-end rate: messages x points from
# the load's start until the last one is stored (embedded: acknowledged = committed; bus: the
# consumer acked it = stored, detected, anomalies stored). JSON lines on stdout, a summary last
# with bus/embedded ratios. First part of issue 13's bench/cluster.sh (two nodes and
# PostgreSQL come with the PostgreSQL back-end). With BASE_IOTAD=path (another build, e.g. of
# main before a change) the bus is also run with that binary, before the bus run, and the
# summary gives bus/bus-base ratios too: a before/after in one run.
#
# Usage: bench/cluster.sh
# Environment: CONNS (16) INFLIGHT (100) MESSAGES (per run, 200000) PPM (points per message, 1)
#   PARTITIONS (32) BUILD_DIR (build) BASE_IOTAD KEEP_TMP=1
source "$(dirname "${BASH_SOURCE[0]}")/mqtt_vs_mosquitto.sh"

# Prints the value of one /metrics sample (0 when absent).
metric() { # NAME_WITH_LABELS
    curl -sS --max-time 10 "http://127.0.0.1:$IOTAD_HTTP_PORT/metrics" |
        awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }'
}

now_s() { date +%s.%N; }

# Runs the load against the iotad just started; waits until every message is durable (the
# sample NAME, when given, reaches the count); appends {"label","e2e_points_per_s","drain_s"} to results.
run_durable() { # LABEL NAME
    local label=$1 name=$2 conns=${CONNS:-16} msgs=${MESSAGES:-200000} ppm=${PPM:-1}
    bench_provision "$conns" "$BENCH_TMP/creds-$label.txt"
    local t0 t1 t2 i have
    t0=$(now_s)
    bench_run "$label" mqtt --port "$IOTAD_MQTT_PORT" --creds "$BENCH_TMP/creds-$label.txt" \
        --host 127.0.0.1 --connections "$conns" --qos 1 --inflight "${INFLIGHT:-100}" \
        --messages "$msgs" --points-per-msg "$ppm" --ts-lag 7200
    t1=$(now_s)
    have=$msgs # embedded: acknowledged is committed
    for i in $(seq 1200); do
        [[ -n $name ]] || break
        have=$(metric "$name")
        [[ ${have%.*} -ge $msgs ]] && break
        sleep 0.1
    done
    t2=$(now_s)
    local amqp=0 # AMQP messages published (builds that combine batches count them)
    [[ -n $name ]] && amqp=$(metric 'iotad_bus_messages_total{direction="published"}')
    $PY -c 'import json, sys
label, msgs, ppm, t0, t1, t2, have, amqp = sys.argv[1:]
msgs, ppm, have, amqp = int(msgs), int(ppm), int(float(have)), int(float(amqp))
t0, t1, t2 = float(t0), float(t1), float(t2)
print(json.dumps({"label": label + "-durable", "ok": have >= msgs, "messages": msgs,
                  "durable_messages": have, "e2e_points_per_s": round(msgs * ppm / (t2 - t0), 1),
                  "drain_s": round(t2 - t1, 3), "amqp_messages": amqp or None,
                  "batches_per_amqp_message": round(have / amqp, 1) if amqp else None}))' \
        "$label" "$msgs" "$ppm" "$t0" "$t1" "$t2" "$have" "$amqp" |
        tee -a "$BENCH_TMP/results.jsonl"
}

cluster_main() {
    bench_init
    bench_require_iotad
    # not under BENCH_TMP (0700): the broker runs as the rabbitmq user
    BENCH_RMQ=$(mktemp -d /tmp/iotad-bench-rmq.XXXXXX)
    trap '$PY "$BENCH_ROOT/tests/services.py" stop "$BENCH_RMQ" >/dev/null 2>&1 || true
        rm -rf "$BENCH_RMQ"; bench_cleanup' EXIT
    local url
    bench_log "starting RabbitMQ"
    $PY "$BENCH_ROOT/tests/services.py" start rabbitmq "$BENCH_RMQ" >"$BENCH_TMP/rmq.log" 2>&1 ||
        bench_die "RabbitMQ did not start: $(tail -3 "$BENCH_TMP/rmq.log")"
    url=$(sed -n 's/^IOTAD_TEST_AMQP_URL=//p' "$BENCH_RMQ/env")

    BENCH_IOTAD_DATA="$BENCH_TMP/embedded" BENCH_IOTAD_ARGS="" bench_start_iotad
    run_durable embedded ''
    bench_stop "$IOTAD_PID"

    if [[ -n ${BASE_IOTAD:-} ]]; then
        [[ -x $BASE_IOTAD ]] || bench_die "BASE_IOTAD=$BASE_IOTAD is not an executable"
        IOTAD=$BASE_IOTAD BENCH_IOTAD_DATA="$BENCH_TMP/bus-base" \
            BENCH_IOTAD_ARGS="--cluster $url --cluster-partitions ${PARTITIONS:-32}" bench_start_iotad
        run_durable bus-base 'iotad_bus_consumed_total{outcome="acked"}'
        kill -0 "$IOTAD_PID" 2>/dev/null || bench_die "base iotad died during the run (log $BENCH_TMP/iotad.log)"
        bench_stop "$IOTAD_PID"
    fi

    BENCH_IOTAD_DATA="$BENCH_TMP/bus" \
        BENCH_IOTAD_ARGS="--cluster $url --cluster-partitions ${PARTITIONS:-32}" bench_start_iotad
    run_durable bus 'iotad_bus_consumed_total{outcome="acked"}'
    kill -0 "$IOTAD_PID" 2>/dev/null || bench_die "iotad died during the run (log $BENCH_TMP/iotad.log)"
    bench_stop "$IOTAD_PID"

    $PY - "$BENCH_TMP/results.jsonl" <<'PYEOF'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        runs[r["label"]] = r
def get(label, key):
    r = runs.get(label, {})
    return r.get(key) if r.get("ok") else None
out = {"summary": "cluster_bus_vs_embedded"}
for name, suffix, key in (("acked_msgs_per_s", "", "msgs_per_s"), ("ack_p50_ms", "", "p50_ms"),
                          ("ack_p99_ms", "", "p99_ms"),
                          ("durable_e2e_points_per_s", "-durable", "e2e_points_per_s"),
                          ("drain_after_load_s", "-durable", "drain_s")):
    e, b = get("embedded" + suffix, key), get("bus" + suffix, key)
    out[name] = {"embedded": e, "bus": b,
                 "ratio": round(b / e, 3) if e and b is not None else None}
    if "bus-base" + suffix in runs:
        a = get("bus-base" + suffix, key)
        out[name].update({"bus_base": a,
                          "base_ratio": round(a / e, 3) if e and a is not None else None,
                          "bus_over_base": round(b / a, 3) if a and b is not None else None})
out["batches_per_amqp_message"] = runs.get("bus-durable", {}).get("batches_per_amqp_message")
out["all_ok"] = all(r.get("ok") for r in runs.values())
print(json.dumps(out))
PYEOF
    return "$BENCH_FAILED"
}

cluster_main "$@"
