#!/usr/bin/env bash
# End-to-end forensic export benchmark through the server: starts iotad on a temporary data
# directory, ingests POINTS points over HTTP (DEVICES devices, 1 s spacing, batches of 10k),
# then downloads GET /api/v1/export with curl (optionally rate-limited, to exercise the
# back-pressure path) while sampling the server's resident set size. Prints one JSON object:
# bytes, seconds, MB/s, the server's RSS before and at peak during the export, and whether
# the manifest's SHA-256 matches the bytes received.
#
# usage: bench/export.sh [points=10000000] [devices=10] [curl --limit-rate value, e.g. 50M]
# needs: a Release build in build/ (or IOTAD_BIN), curl, python3 with requests.
set -euo pipefail
points=${1:-10000000}
devices=${2:-10}
limit=${3:-}
bin=${IOTAD_BIN:-$(dirname "$0")/../build/iotad}
dir=$(mktemp -d /tmp/iotad-export-bench.XXXXXX)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
IOTAD_ADMIN_PASSWORD=bench-password-123 IOTAD_FAST_HASH=1 "$bin" serve --data-dir "$dir" \
  --http-listen 127.0.0.1:0 --mqtt-listen 127.0.0.1:0 --store-sync normal \
  --ts-max-past-s 31536000 >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "msg=listening" "$dir/log" && break; sleep 0.1; done
port=$(sed -n 's/.*msg=listening http_port=\([0-9]*\).*/\1/p' "$dir/log" | head -1)
url="http://127.0.0.1:$port"
token=$(python3 - "$url" "$points" "$devices" <<'EOF'
import json, sys, time, requests
url, points, devices = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = requests.Session()
tok = s.post(url + "/api/v1/auth/login", json={"email": "admin@localhost",
             "password": "bench-password-123"}).json()["token"]
s.headers["Authorization"] = "Bearer " + tok
t0 = int(time.time() * 1000) - (points // devices + 10) * 1000
per = points // devices
for d in range(devices):
    dev = s.post(url + "/api/v1/devices", json={"name": f"bench-{d}"}).json()["id"]
    key = s.post(url + f"/api/v1/devices/{dev}/keys").json()["key"]
    h = {"X-API-Key": key, "Content-Type": "text/plain"}
    for b in range(0, per, 10000):
        body = "\n".join(f"m v={20 + (i % 1000) * 0.01} {(t0 + i * 1000) * 1000000}"
                         for i in range(b, min(per, b + 10000)))
        r = requests.post(url + "/api/v2/write?precision=ns", headers=h, data=body)
        assert r.status_code in (202, 204), r.text
    print(f"ingested device {d + 1}/{devices}", file=sys.stderr)
print(tok)
EOF
)
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
rss_before=$(rss)
peak=$rss_before
curl_args=(-s -o "$dir/export.ndjson" -H "Authorization: Bearer $token")
[ -n "$limit" ] && curl_args+=(--limit-rate "$limit")
start=$(date +%s.%N)
curl "${curl_args[@]}" "$url/api/v1/export?from=0&what=points" &
cpid=$!
while kill -0 $cpid 2>/dev/null; do
  r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
  sleep 0.2
done
wait $cpid
end=$(date +%s.%N)
bytes=$(stat -c %s "$dir/export.ndjson")
ok=$(python3 - "$dir/export.ndjson" <<'EOF'
import hashlib, json, sys
h = hashlib.sha256()
last = b""
with open(sys.argv[1], "rb") as f:
    prev = None
    for line in f:
        if prev is not None:
            h.update(prev)
        prev = line
m = json.loads(prev)
print(json.dumps({"points": m["records"]["point"], "hash_ok": m["sha256"] == h.hexdigest()}))
EOF
)
python3 -c "
import json,sys
b,s,e,rb,pk=int('$bytes'),float('$start'),float('$end'),int('$rss_before'),int('$peak')
o={'bench':'export_http','bytes':b,'seconds':round(e-s,2),'mb_per_s':round(b/1e6/(e-s),1),
   'server_rss_before_kb':rb,'server_rss_peak_kb':pk,'limit_rate':'$limit' or None}
o.update(json.loads('$ok'))
print(json.dumps(o))"
