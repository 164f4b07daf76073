#!/usr/bin/env bash
# Compares iotad's MQTT ingest with Mosquitto on this machine, in one run, with the same load:
# starts Mosquitto on a free loopback port and runs bench_loadgen against it (QoS 1 and QoS 0),
# then starts iotad with a temporary data directory, provisions one device per connection over
# the REST API, and runs the same two loads with the devices' credentials. Prints one JSON object
# per run (bench_loadgen's output, with a "label") and a final summary line with iotad/mosquitto
# ratios. Progress goes to stderr. Exit status is non-zero if any run failed.
#
# Usage: bench/mqtt_vs_mosquitto.sh
# Environment: CONNS (16) INFLIGHT (100) DURATION (10 s) PPM (points per message, 1)
#   PROTOCOL (4|5, 4) THREADS (loadgen threads, 1) BUILD_DIR (build) LOADGEN IOTAD MOSQUITTO
#   MOSQUITTO_ONLY=1 (skip iotad) KEEP_TMP=1 (keep logs and data)
#
# The functions below are shared with bench/http_ingest.sh, which sources this file.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$BENCH_ROOT/build}
LOADGEN=${LOADGEN:-$BUILD_DIR/bench_loadgen}
IOTAD=${IOTAD:-$BUILD_DIR/iotad}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
PY=/usr/bin/python3
BENCH_PIDS=()
BENCH_FAILED=0

bench_log() { echo "[bench] $*" >&2; }
bench_die() {
    echo "[bench] ERROR: $*" >&2
    exit 1
}

# Kills what we started (TERM, then KILL after 5 s) and removes the temporary directory.
bench_cleanup() {
    local pid i
    for pid in "${BENCH_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${BENCH_PIDS[@]}"; do
        for i in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    BENCH_PIDS=()
    if [[ -n ${BENCH_TMP:-} && -d $BENCH_TMP ]]; then
        if [[ ${KEEP_TMP:-0} == 1 ]]; then
            bench_log "kept $BENCH_TMP"
        else
            rm -rf "$BENCH_TMP"
        fi
    fi
}

bench_init() {
    set -euo pipefail
    [[ -x $PY ]] || bench_die "$PY is needed"
    [[ -x $LOADGEN ]] || bench_die "loadgen not built at $LOADGEN: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2 --target bench_loadgen (or set LOADGEN=path)"
    command -v curl >/dev/null || bench_die "curl is needed to provision devices"
    BENCH_TMP=$(mktemp -d /tmp/iotad-bench.XXXXXX)
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_stop() { # PID: stops one process we started
    local pid=$1 i keep=()
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for i in "${BENCH_PIDS[@]}"; do [[ $i == "$pid" ]] || keep+=("$i"); done
    BENCH_PIDS=("${keep[@]}")
}

# A free port below the ephemeral range, reserved (tests/services.py free_port: a flock shared
# by every test and bench on the machine) until this shell exits, so nothing else takes it
# before the server we start binds it. Not port 0: the kernel hands those to outgoing
# connections too, which may take the port first ("address already in use").
bench_free_port() {
    $PY "$BENCH_ROOT/tests/services.py" hold-port $$
}

# Waits until 127.0.0.1:PORT accepts connections; fails if PID exits or after TIMEOUT s.
bench_wait_port() { # PORT PID NAME TIMEOUT_S LOGFILE
    local port=$1 pid=$2 name=$3 timeout=$4 log=$5 i
    for i in $(seq $((timeout * 10))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$log" >&2 || true
            bench_die "$name exited before listening on port $port (log above)"
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    tail -n 20 "$log" >&2 || true
    bench_die "$name did not listen on port $port within ${timeout}s"
}

bench_start_mosquitto() { # sets MOSQ_PORT, MOSQ_PID
    [[ -x $MOSQUITTO ]] || bench_die "mosquitto not found at $MOSQUITTO (apt-get install mosquitto)"
    MOSQ_PORT=$(bench_free_port)
    # No persistence, anonymous clients, no limit on messages in flight (so a v5 CONNACK
    # carries no Receive Maximum below --inflight), Nagle off so acks are not held back.
    cat >"$BENCH_TMP/mosquitto.conf" <<EOF
listener $MOSQ_PORT 127.0.0.1
allow_anonymous true
max_inflight_messages 0
set_tcp_nodelay true
persistence false
log_dest stderr
log_type error
log_type warning
EOF
    "$MOSQUITTO" -c "$BENCH_TMP/mosquitto.conf" >"$BENCH_TMP/mosquitto.log" 2>&1 &
    MOSQ_PID=$!
    BENCH_PIDS+=("$MOSQ_PID")
    bench_wait_port "$MOSQ_PORT" "$MOSQ_PID" mosquitto 10 "$BENCH_TMP/mosquitto.log"
    bench_log "mosquitto $("$MOSQUITTO" -h 2>/dev/null | head -1 | awk '{print $3}') on 127.0.0.1:$MOSQ_PORT"
}

bench_require_iotad() {
    [[ -x $IOTAD ]] || bench_die "iotad is not built at $IOTAD: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2 (or set IOTAD=path, or MOSQUITTO_ONLY=1)"
}

bench_start_iotad() { # sets IOTAD_HTTP_PORT, IOTAD_MQTT_PORT, IOTAD_PID, ADMIN_PW
    bench_require_iotad
    IOTAD_HTTP_PORT=$(bench_free_port)
    IOTAD_MQTT_PORT=$(bench_free_port)
    while [[ $IOTAD_MQTT_PORT == "$IOTAD_HTTP_PORT" ]]; do IOTAD_MQTT_PORT=$(bench_free_port); done
    ADMIN_PW=$($PY -c 'import secrets; print(secrets.token_urlsafe(18))')
    # BENCH_IOTAD_DATA: another data directory; BENCH_IOTAD_ARGS: more flags (bench/cluster.sh)
    local data=${BENCH_IOTAD_DATA:-$BENCH_TMP/iotad-data}
    mkdir -p "$data"
    # shellcheck disable=SC2086
    IOTAD_ADMIN_PASSWORD=$ADMIN_PW "$IOTAD" serve --data-dir "$data" \
        --http-listen "127.0.0.1:$IOTAD_HTTP_PORT" --mqtt-listen "127.0.0.1:$IOTAD_MQTT_PORT" \
        ${BENCH_IOTAD_ARGS:-} >>"$BENCH_TMP/iotad.log" 2>&1 &
    IOTAD_PID=$!
    BENCH_PIDS+=("$IOTAD_PID")
    bench_wait_port "$IOTAD_HTTP_PORT" "$IOTAD_PID" iotad 30 "$BENCH_TMP/iotad.log"
    bench_wait_port "$IOTAD_MQTT_PORT" "$IOTAD_PID" iotad 30 "$BENCH_TMP/iotad.log"
    bench_log "iotad on http 127.0.0.1:$IOTAD_HTTP_PORT, mqtt 127.0.0.1:$IOTAD_MQTT_PORT (log $BENCH_TMP/iotad.log)"
}

# Calls the iotad REST API; prints the response body, fails loudly on a non-2xx status.
bench_api() { # METHOD PATH [JSON_BODY]
    local method=$1 path=$2 body=${3:-} code
    local args=(-sS -X "$method" -o "$BENCH_TMP/resp" -w '%{http_code}' --max-time 30
        -H 'Content-Type: application/json')
    [[ -n ${BENCH_TOKEN:-} ]] && args+=(-H "Authorization: Bearer $BENCH_TOKEN")
    [[ -n $body ]] && args+=(--data "$body")
    code=$(curl "${args[@]}" "http://127.0.0.1:$IOTAD_HTTP_PORT$path") ||
        bench_die "curl $method $path failed"
    [[ $code == 2?? ]] || bench_die "$method $path -> HTTP $code: $(head -c 300 "$BENCH_TMP/resp")"
    cat "$BENCH_TMP/resp"
}

bench_json_field() { # FIELD: reads a JSON object on stdin, prints one string/number field
    $PY -c 'import json, sys
v = json.load(sys.stdin).get(sys.argv[1])
if v is None or v == "":
    sys.exit("no field %r in the response" % sys.argv[1])
print(v)' "$1"
}

# Logs in as the first Admin and creates N devices lg-1..lg-N with one API key each; writes
# "device_id api_key" lines to FILE.
bench_provision() { # N FILE
    local n=$1 file=$2 i id key login
    BENCH_TOKEN=
    for i in $(seq 50); do # the Admin account may be created just after the port opens
        login=$(curl -sS -o "$BENCH_TMP/resp" -w '%{http_code}' --max-time 10 \
            -H 'Content-Type: application/json' -X POST \
            --data "{\"email\":\"admin@localhost\",\"password\":\"$ADMIN_PW\"}" \
            "http://127.0.0.1:$IOTAD_HTTP_PORT/api/v1/auth/login") || login=000
        if [[ $login == 2?? ]]; then
            BENCH_TOKEN=$(bench_json_field token <"$BENCH_TMP/resp")
            break
        fi
        [[ $login == 5?? || $login == 000 ]] ||
            bench_die "login -> HTTP $login: $(head -c 300 "$BENCH_TMP/resp")"
        sleep 0.2
    done
    [[ -n $BENCH_TOKEN ]] || bench_die "could not log in as admin@localhost"
    : >"$file"
    for i in $(seq "$n"); do
        id=$(bench_api POST /api/v1/devices "{\"name\":\"lg-$i\",\"type\":\"bench\"}" |
            bench_json_field id)
        key=$(bench_api POST "/api/v1/devices/$id/keys" '{}' | bench_json_field key)
        echo "$id $key" >>"$file"
    done
    bench_log "provisioned $n devices"
}

# Runs bench_loadgen with --label LABEL, prints its JSON and appends it to results.jsonl.
bench_run() { # LABEL ARGS...
    local label=$1 out rc
    shift
    bench_log "run $label: bench_loadgen $*"
    out=$("$LOADGEN" "$@" --label "$label") && rc=0 || rc=$?
    if [[ -z $out ]]; then out="{\"label\":\"$label\",\"ok\":false,\"error\":\"loadgen exit $rc\"}"; fi
    echo "$out"
    echo "$out" >>"$BENCH_TMP/results.jsonl"
    if [[ $rc != 0 ]]; then
        bench_log "run $label FAILED (exit $rc)"
        BENCH_FAILED=1
    fi
}

# Half of the msgs_per_s measured by run LABEL (for the paced latency runs).
half_rate() {
    $PY -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("label") == sys.argv[2] and r.get("ok"):
        print(max(100, int(r["msgs_per_s"] / 2))); break
else:
    print(1000)' "$BENCH_TMP/results.jsonl" "$1"
}

mqtt_vs_mosquitto_main() {
    bench_init
    local conns=${CONNS:-16} inflight=${INFLIGHT:-100} duration=${DURATION:-10} ppm=${PPM:-1}
    local protocol=${PROTOCOL:-4} threads=${THREADS:-1}
    [[ ${MOSQUITTO_ONLY:-0} == 1 ]] || bench_require_iotad
    local common=(--connections "$conns" --duration "$duration" --points-per-msg "$ppm"
        --protocol "$protocol" --threads "$threads" --host 127.0.0.1)
    # Each device's timestamps are unique and increasing; the QoS 1 run starts its clocks two
    # hours back and the QoS 0 run one hour back, so the second run never rewrites the
    # first run's time range on the same series.
    local q1=(--qos 1 --inflight "$inflight" --ts-lag 7200) q0=(--qos 0 --ts-lag 3600)

    bench_start_mosquitto
    bench_run mosquitto-qos1 mqtt --port "$MOSQ_PORT" "${common[@]}" "${q1[@]}"
    bench_run mosquitto-qos0 mqtt --port "$MOSQ_PORT" "${common[@]}" "${q0[@]}"
    bench_run mosquitto-qos1-half mqtt --port "$MOSQ_PORT" "${common[@]}" --qos 1 \
        --inflight "$inflight" --ts-lag 5400 --rate "$(half_rate mosquitto-qos1)"
    bench_stop "$MOSQ_PID"

    if [[ ${MOSQUITTO_ONLY:-0} != 1 ]]; then
        bench_start_iotad
        bench_provision "$conns" "$BENCH_TMP/creds.txt"
        local auth=(--port "$IOTAD_MQTT_PORT" --creds "$BENCH_TMP/creds.txt")
        bench_run iotad-qos1 mqtt "${auth[@]}" "${common[@]}" "${q1[@]}"
        bench_run iotad-qos0 mqtt "${auth[@]}" "${common[@]}" "${q0[@]}"
        # latency at half of iotad's own maximum QoS 1 rate (the issue's p99 target)
        bench_run iotad-qos1-half mqtt "${auth[@]}" "${common[@]}" --qos 1 --inflight "$inflight" \
            --ts-lag 5400 --rate "$(half_rate iotad-qos1)"
        kill -0 "$IOTAD_PID" 2>/dev/null || {
            tail -n 20 "$BENCH_TMP/iotad.log" >&2
            bench_die "iotad died during the runs (log above)"
        }
        bench_stop "$IOTAD_PID"
    fi

    $PY - "$BENCH_TMP/results.jsonl" <<'EOF'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        r = json.loads(line)
        runs[r.get("label")] = r
def get(label, key):
    return runs.get(label, {}).get(key) if runs.get(label, {}).get("ok") else None
out = {"summary": "iotad_vs_mosquitto"}
# QoS 0 has no acks: compare what the servers read (PINGREQ markers), not what was written.
for name, label, key in (("qos1_msgs_per_s", "qos1", "msgs_per_s"),
                         ("qos0_processed_msgs_per_s", "qos0", "processed_msgs_per_s"),
                         ("qos0_sent_msgs_per_s", "qos0", "msgs_per_s")):
    m, i = get("mosquitto-" + label, key), get("iotad-" + label, key)
    out[name] = {"mosquitto": m, "iotad": i,
                 "ratio": round(i / m, 3) if m and i is not None else None}
for q in ("p50_ms", "p99_ms"):
    out["qos1_" + q] = {"mosquitto": get("mosquitto-qos1", q), "iotad": get("iotad-qos1", q)}
for q in ("msgs_per_s", "p50_ms", "p99_ms", "p999_ms"):
    out["qos1_half_rate_" + q] = {"mosquitto": get("mosquitto-qos1-half", q),
                                  "iotad": get("iotad-qos1-half", q)}
out["all_ok"] = all(r.get("ok") for r in runs.values())
print(json.dumps(out))
EOF
    return "$BENCH_FAILED"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    mqtt_vs_mosquitto_main "$@"
fi
