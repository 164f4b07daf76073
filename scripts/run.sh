#!/usr/bin/env bash
# Runs the product on the embedded default: installs what is missing, builds iotad and the
# dashboard, and starts iotad with SQLite in ./data, MQTT on 1883, HTTP/WebSocket on 8080 and
# a simulated fleet. Extra arguments go to `iotad serve` (e.g. --sim-devices 200).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh run
make build
if [ -f web/package.json ] && { [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/index.html web/package.json -newer web/dist/index.html 2>/dev/null | head -1)" ]; }; then
  make web
fi
export IOTAD_DATA_DIR=${IOTAD_DATA_DIR:-./data}
echo "iotad: dashboard and API on http://localhost:8080, MQTT on localhost:1883 (Ctrl-C stops)"
exec build/iotad serve --simulate "$@"
