#!/usr/bin/env bash
# RabbitMQ's cost per message for the cluster pipeline (bench/amqp_confirm.c) on a throw-away
# RabbitMQ 3.10 started on free loopback ports and removed afterwards. JSON lines on stdout.
# usage: bench/amqp_confirm.sh [messages=20000] [bytes=1200,12000] [window=1,64,512]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench_amqp_confirm ] || make build >&2
dir=$(mktemp -d /tmp/iotad-bench-amqp.XXXXXX)
trap '/usr/bin/python3 tests/services.py stop "$dir" >/dev/null; rm -rf "$dir"' EXIT
/usr/bin/python3 tests/services.py start rabbitmq "$dir"
url=$(sed -n 's/^IOTAD_TEST_AMQP_URL=//p' "$dir/env")
build/bench_amqp_confirm "$url" "$@"
