#!/usr/bin/env bash
# Compares two builds of iotad on the same load in one run: "before" and "after" a change (issue
# 12's refactor was measured with it, see docs/benchmarks.md). Two measures:
#
#  instructions  iotad runs under valgrind --tool=callgrind, instrumentation off; after start-up
#                and provisioning, it is switched on (callgrind_control -i on), a fixed
#                load is sent (bench_loadgen --messages: MQTT QoS 1 with one point per message,
#                then HTTP ingest with batches of 1000 points), the script waits until iotad's
#                CPU time settles (the shards have detected every point), then instrumentation is
#                switched off. Instructions per point of the whole server (every thread: decode,
#                store, detection, events) are what the machine's load cannot blur.
#  throughput    ROUNDS rounds, the order of the two builds alternating, each a fresh iotad with
#                16 devices: MQTT QoS 1 then HTTP ingest for DURATION s each. Reported per round
#                as after/before ratios and their median (the shared machine's noise shows as
#                the spread between rounds).
#
# Usage: bench/ab.sh BEFORE AFTER        each an iotad binary, or a git revision of this
#                                        repository (built in a temporary clone, Release)
# Environment: MODE (instructions|throughput|both; both) ROUNDS (3) DURATION (5 s)
#   MQTT_MSGS (20000) HTTP_REQS (40) CONNS (16) BUILD_DIR LOADGEN KEEP_TMP=1
# Prints one JSON line per run and a final {"summary": "ab", ...} line. Progress on stderr.
# Shares its helpers with bench/mqtt_vs_mosquitto.sh.

# shellcheck source=mqtt_vs_mosquitto.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/mqtt_vs_mosquitto.sh"

# REV_OR_PATH NAME: prints the path of an iotad binary (builds a revision in $BENCH_TMP).
ab_binary() {
    local spec=$1 name=$2 dir
    if [[ -x $spec && -f $spec ]]; then
        echo "$spec"
        return
    fi
    git -C "$BENCH_ROOT" rev-parse --verify -q "$spec^{commit}" >/dev/null ||
        bench_die "$spec is neither an executable nor a revision"
    dir=$BENCH_TMP/src-$name
    bench_log "building $spec in $dir"
    if ! git clone -q --shared "$BENCH_ROOT" "$dir" || ! git -C "$dir" checkout -q "$spec"; then
        bench_die "cannot check out $spec"
    fi
    if ! cmake -S "$dir" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DIOTAD_TESTS=OFF >/dev/null ||
        ! cmake --build "$dir/build" -j2 --target iotad >/dev/null; then
        bench_die "build of $spec failed"
    fi
    echo "$dir/build/iotad"
}

ab_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# Waits until PID is idle: under 5 % of a core (its timers) for 3 s in a row, at most TIMEOUT s.
ab_wait_idle() { # PID TIMEOUT_S
    local pid=$1 timeout=$2 hz last now still=0 _
    hz=$(getconf CLK_TCK)
    last=$(ab_cpu_ticks "$pid")
    for _ in $(seq "$timeout"); do
        sleep 1
        now=$(ab_cpu_ticks "$pid")
        if (((now - last) * 20 <= hz)); then
            still=$((still + 1))
            ((still >= 3)) && return 0
        else
            still=0
        fi
        last=$now
    done
    bench_log "pid $pid still busy after ${timeout}s"
}

# NAME BINARY: one callgrind run; prints {"label", "points", "instructions", ...}.
ab_instructions() {
    local name=$1 bin=$2 out=$BENCH_TMP/callgrind.$1 pid vg_pid ir conns=4
    local mqtt_msgs=${MQTT_MSGS:-20000} http_reqs=${HTTP_REQS:-40}
    IOTAD_HTTP_PORT=$(bench_free_port)
    IOTAD_MQTT_PORT=$(bench_free_port)
    ADMIN_PW=$($PY -c 'import secrets; print(secrets.token_urlsafe(18))')
    rm -rf "$BENCH_TMP/iotad-data" && mkdir -p "$BENCH_TMP/iotad-data"
    IOTAD_ADMIN_PASSWORD=$ADMIN_PW valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$out" "$bin" serve --data-dir "$BENCH_TMP/iotad-data" \
        --http-listen "127.0.0.1:$IOTAD_HTTP_PORT" --mqtt-listen "127.0.0.1:$IOTAD_MQTT_PORT" \
        >"$BENCH_TMP/iotad.log" 2>&1 &
    vg_pid=$!
    BENCH_PIDS+=("$vg_pid")
    IOTAD_PID=$vg_pid
    bench_wait_port "$IOTAD_HTTP_PORT" "$vg_pid" "iotad (callgrind)" 300 "$BENCH_TMP/iotad.log"
    bench_wait_port "$IOTAD_MQTT_PORT" "$vg_pid" "iotad (callgrind)" 300 "$BENCH_TMP/iotad.log"
    bench_provision "$conns" "$BENCH_TMP/creds.txt"
    ab_wait_idle "$vg_pid" 120
    callgrind_control -i on "$vg_pid" >/dev/null || bench_die "callgrind_control -i on failed"
    bench_run "$name-cg-mqtt" mqtt --port "$IOTAD_MQTT_PORT" --creds "$BENCH_TMP/creds.txt" \
        --host 127.0.0.1 --connections "$conns" --qos 1 --inflight 50 --messages "$mqtt_msgs" \
        --ts-lag 7200 --drain-timeout 300 >/dev/null
    bench_run "$name-cg-http" http --url "http://127.0.0.1:$IOTAD_HTTP_PORT/api/v1/ingest" \
        --creds "$BENCH_TMP/creds.txt" --connections "$conns" --batch 1000 \
        --messages "$http_reqs" --ts-lag 3600 --drain-timeout 300 >/dev/null
    ab_wait_idle "$vg_pid" 600
    callgrind_control -i off "$vg_pid" >/dev/null || bench_die "callgrind_control -i off failed"
    bench_stop "$vg_pid"
    ir=$(awk '/^totals:/ {print $2; exit}' "$out")
    [[ -n $ir ]] || bench_die "no callgrind totals in $out"
    echo "{\"label\":\"$name-instructions\",\"points\":$((mqtt_msgs + http_reqs * 1000)),\"instructions\":$ir}" |
        tee -a "$BENCH_TMP/results.jsonl"
}

# NAME BINARY ROUND: one throughput run (QoS 1, then HTTP) against a fresh iotad.
ab_throughput() {
    local name=$1 round=$3 conns=${CONNS:-16} duration=${DURATION:-5}
    # shellcheck disable=SC2034 # read by bench_start_iotad
    IOTAD=$2
    bench_start_iotad
    bench_provision "$conns" "$BENCH_TMP/creds.txt"
    bench_run "$name-qos1-r$round" mqtt --port "$IOTAD_MQTT_PORT" --creds "$BENCH_TMP/creds.txt" \
        --host 127.0.0.1 --connections "$conns" --qos 1 --inflight 100 --duration "$duration" \
        --ts-lag 7200
    bench_run "$name-http-r$round" http --url "http://127.0.0.1:$IOTAD_HTTP_PORT/api/v1/ingest" \
        --creds "$BENCH_TMP/creds.txt" --connections "$conns" --batch 1000 \
        --duration "$duration" --ts-lag 3600
    bench_stop "$IOTAD_PID"
    rm -rf "$BENCH_TMP/iotad-data"
}

ab_main() {
    bench_init
    [[ $# == 2 ]] || bench_die "usage: bench/ab.sh BEFORE AFTER (binaries or git revisions)"
    local mode=${MODE:-both} rounds=${ROUNDS:-3} before after r
    before=$(ab_binary "$1" before)
    after=$(ab_binary "$2" after)
    if [[ $mode == instructions || $mode == both ]]; then
        command -v callgrind_control >/dev/null || bench_die "valgrind is needed for MODE=instructions"
        ab_instructions before "$before"
        ab_instructions after "$after"
    fi
    if [[ $mode == throughput || $mode == both ]]; then
        for r in $(seq "$rounds"); do
            if ((r % 2)); then
                ab_throughput before "$before" "$r"
                ab_throughput after "$after" "$r"
            else
                ab_throughput after "$after" "$r"
                ab_throughput before "$before" "$r"
            fi
        done
    fi
    $PY - "$BENCH_TMP/results.jsonl" "$1" "$2" <<'EOF'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        runs[r["label"]] = r
out = {"summary": "ab", "before": sys.argv[2], "after": sys.argv[3]}
ipp = {}
for side in ("before", "after"):
    r = runs.get(side + "-instructions")
    if r:
        ipp[side] = r["instructions"] / r["points"]
        out["instructions_per_point_" + side] = round(ipp[side])
if len(ipp) == 2:
    out["instructions_ratio"] = round(ipp["after"] / ipp["before"], 4)
for kind, field in (("qos1", "msgs_per_s"), ("http", "points_per_s")):
    ratios = []
    for label, r in runs.items():
        if label.startswith("before-" + kind + "-r"):
            a = runs.get("after" + label[len("before"):])
            if r.get("ok") and a and a.get("ok") and r.get(field):
                ratios.append(a[field] / r[field])
    if ratios:
        out[kind + "_ratios"] = [round(x, 3) for x in ratios]
        out[kind + "_ratio_median"] = round(statistics.median(ratios), 3)
print(json.dumps(out))
EOF
    return "$BENCH_FAILED"
}

ab_main "$@"
