#!/usr/bin/env bash
# MQTT over TLS, iotad against Mosquitto in one run with the same load and the same
# certificate (EC P-256, made here with openssl): QoS 1 throughput over TLS and over plain TCP
# for both servers (bench_loadgen, --tls-ca for TLS), and the cost of full TLS handshakes
# (openssl s_time: new handshakes per second against each server's TLS port, and the server's
# CPU time per handshake from /proc). Prints one JSON
# object per run and a summary line with the ratios iotad/mosquitto (TLS), TLS/plain (each
# server) and the handshake rates. Progress goes to stderr.
#
# Usage: bench/mqtt_tls.sh
# Environment: as bench/mqtt_vs_mosquitto.sh (CONNS, INFLIGHT, DURATION, PPM, PROTOCOL,
#   THREADS, BUILD_DIR, LOADGEN, IOTAD, MOSQUITTO, KEEP_TMP); HANDSHAKE_S (5)

source "$(dirname "${BASH_SOURCE[0]}")/mqtt_vs_mosquitto.sh"

# Full TLS handshakes against PORT for S seconds (openssl s_time -new) while PID serves them:
# prints "<handshakes per second> <server CPU ms per handshake>" (CPU from /proc: user+system).
handshakes() { # PORT PID S CAFILE
    local port=$1 pid=$2 s=$3 ca=$4 t0 t1 out n secs hz
    hz=$(getconf CLK_TCK)
    t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$(openssl s_time -connect "localhost:$port" -new -time "$s" -CAfile "$ca" 2>/dev/null |
        grep "real seconds" | head -1)
    t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    n=$(echo "$out" | awk '{print $1}')
    secs=$(echo "$out" | awk '{print $4}')
    [[ -n $n && $n -gt 0 ]] || { echo "0 0"; return; }
    awk -v n="$n" -v s="$secs" -v d=$((t1 - t0)) -v hz="$hz" \
        'BEGIN { printf "%.1f %.3f\n", n / s, d * 1000 / hz / n }'
}

tls_main() {
    bench_init
    bench_require_iotad
    command -v openssl >/dev/null || bench_die "openssl is needed"
    local conns=${CONNS:-16} inflight=${INFLIGHT:-100} duration=${DURATION:-10} ppm=${PPM:-1}
    local protocol=${PROTOCOL:-4} threads=${THREADS:-1} hs=${HANDSHAKE_S:-5}
    local cert=$BENCH_TMP/cert.pem key=$BENCH_TMP/key.pem
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$key" \
        -out "$cert" -subj /CN=localhost -addext subjectAltName=DNS:localhost -days 2 \
        2>/dev/null || bench_die "openssl req failed"
    # Mosquitto started as root drops to its own user: let it read this throw-away key
    chmod a+rx "$BENCH_TMP" && chmod a+r "$cert" "$key"
    local common=(--connections "$conns" --duration "$duration" --points-per-msg "$ppm"
        --protocol "$protocol" --threads "$threads" --host localhost --qos 1
        --inflight "$inflight")

    # Mosquitto: a plain and a TLS listener, as bench_start_mosquitto configures the plain one
    MOSQ_PORT=$(bench_free_port)
    local mosq_tls
    mosq_tls=$(bench_free_port)
    cat >"$BENCH_TMP/mosquitto.conf" <<EOF
per_listener_settings false
allow_anonymous true
max_inflight_messages 0
set_tcp_nodelay true
persistence false
log_dest stderr
log_type error
listener $MOSQ_PORT 127.0.0.1
listener $mosq_tls 127.0.0.1
certfile $cert
keyfile $key
EOF
    "$MOSQUITTO" -c "$BENCH_TMP/mosquitto.conf" >"$BENCH_TMP/mosquitto.log" 2>&1 &
    MOSQ_PID=$!
    BENCH_PIDS+=("$MOSQ_PID")
    bench_wait_port "$mosq_tls" "$MOSQ_PID" mosquitto 10 "$BENCH_TMP/mosquitto.log"
    bench_run mosquitto-qos1 mqtt --port "$MOSQ_PORT" "${common[@]}" --ts-lag 7200
    bench_run mosquitto-tls-qos1 mqtt --port "$mosq_tls" --tls-ca "$cert" "${common[@]}" \
        --ts-lag 5400
    local mosq_hs
    mosq_hs=$(handshakes "$mosq_tls" "$MOSQ_PID" "$hs" "$cert")
    bench_stop "$MOSQ_PID"

    # iotad: the same certificate on an MQTT-over-TLS listener next to the plain one
    local iotad_tls
    iotad_tls=$(bench_free_port)
    IOTAD_HTTP_PORT=$(bench_free_port)
    IOTAD_MQTT_PORT=$(bench_free_port)
    ADMIN_PW=$($PY -c 'import secrets; print(secrets.token_urlsafe(18))')
    mkdir -p "$BENCH_TMP/iotad-data"
    IOTAD_ADMIN_PASSWORD=$ADMIN_PW "$IOTAD" serve --data-dir "$BENCH_TMP/iotad-data" \
        --http-listen "127.0.0.1:$IOTAD_HTTP_PORT" --mqtt-listen "127.0.0.1:$IOTAD_MQTT_PORT" \
        --mqtts-listen "127.0.0.1:$iotad_tls" --tls-cert-file "$cert" --tls-key-file "$key" \
        >"$BENCH_TMP/iotad.log" 2>&1 &
    IOTAD_PID=$!
    BENCH_PIDS+=("$IOTAD_PID")
    bench_wait_port "$iotad_tls" "$IOTAD_PID" iotad 30 "$BENCH_TMP/iotad.log"
    bench_provision "$conns" "$BENCH_TMP/creds.txt"
    local auth=(--creds "$BENCH_TMP/creds.txt")
    bench_run iotad-qos1 mqtt --port "$IOTAD_MQTT_PORT" "${auth[@]}" "${common[@]}" --ts-lag 7200
    bench_run iotad-tls-qos1 mqtt --port "$iotad_tls" --tls-ca "$cert" "${auth[@]}" \
        "${common[@]}" --ts-lag 5400
    local iotad_hs
    iotad_hs=$(handshakes "$iotad_tls" "$IOTAD_PID" "$hs" "$cert")
    kill -0 "$IOTAD_PID" 2>/dev/null || bench_die "iotad died during the runs"
    bench_stop "$IOTAD_PID"

    $PY - "$BENCH_TMP/results.jsonl" "${mosq_hs:-0 0}" "${iotad_hs:-0 0}" <<'EOF'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        runs[r.get("label")] = r
def rate(label):
    r = runs.get(label, {})
    return r.get("msgs_per_s") if r.get("ok") else None
def ratio(a, b):
    return round(a / b, 3) if a and b else None
m, mt, i, it = (rate(x) for x in ("mosquitto-qos1", "mosquitto-tls-qos1", "iotad-qos1",
                                   "iotad-tls-qos1"))
(mhs, mcpu), (ihs, icpu) = (map(float, a.split()) for a in sys.argv[2:4])
print(json.dumps({
    "summary": "mqtt_tls",
    "qos1_tls_msgs_per_s": {"mosquitto": mt, "iotad": it, "ratio": ratio(it, mt)},
    "qos1_plain_msgs_per_s": {"mosquitto": m, "iotad": i, "ratio": ratio(i, m)},
    "tls_over_plain": {"mosquitto": ratio(mt, m), "iotad": ratio(it, i)},
    "tls_handshakes_per_s": {"mosquitto": round(mhs, 1), "iotad": round(ihs, 1),
                             "ratio": ratio(ihs, mhs)},
    "tls_handshake_server_cpu_ms": {"mosquitto": mcpu, "iotad": icpu,
                                    "ratio": ratio(icpu, mcpu)},
    "qos1_tls_p99_ms": {"mosquitto": runs.get("mosquitto-tls-qos1", {}).get("p99_ms"),
                        "iotad": runs.get("iotad-tls-qos1", {}).get("p99_ms")},
    "all_ok": all(r.get("ok") for r in runs.values()),
}))
EOF
    return "$BENCH_FAILED"
}

tls_main "$@"
