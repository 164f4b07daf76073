#!/usr/bin/env bash
# Installs the Debian packages iotad needs to build, run and test, idempotently:
# only packages that are missing are installed. Usage: scripts/install-deps.sh [run|test]
set -euo pipefail
mode=${1:-test}
run_pkgs=(build-essential cmake pkg-config libuv1-dev libsqlite3-dev libargon2-dev libssl-dev
  libjsmn-dev libcjson-dev libhttp-parser-dev libcurl4-openssl-dev libcairo2-dev zlib1g-dev
  libmosquitto-dev libpq-dev librabbitmq-dev)
test_pkgs=(clang libclang-rt-14-dev libcmocka-dev mosquitto mosquitto-clients
  python3-pytest python3-paho-mqtt python3-requests python3-websocket python3-aiosmtpd
  clang-format valgrind curl jq poppler-utils chromium python3-yaml prometheus
  podman runc mmdebstrap uidmap fuse-overlayfs podman-compose catatonit
  postgresql rabbitmq-server haproxy python3-psycopg2 python3-pika)
pkgs=("${run_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#pkgs[@]} packages present"
fi
# The dashboard needs Node.js and npm; machines of this kind ship them (NodeSource build with npm).
if ! command -v npm >/dev/null 2>&1; then
  command -v node >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends nodejs
  command -v npm >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends npm
fi
