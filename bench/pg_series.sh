#!/usr/bin/env bash
# The PostgreSQL time-series layouts (bench/pg_series.c) on a throw-away PostgreSQL 15 with
# fsync on, started on a free loopback port and removed afterwards. JSON lines on stdout.
# usage: bench/pg_series.sh [series=1000] [points_per_series=8640] [chunk_points=120,360,720]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bench_pg_series ] || make build >&2
dir=$(mktemp -d /tmp/iotad-bench-pg.XXXXXX)
trap '/usr/bin/python3 tests/services.py stop "$dir" >/dev/null; rm -rf "$dir"' EXIT
IOTAD_PG_FSYNC=1 /usr/bin/python3 tests/services.py start postgres "$dir"
url=$(sed -n 's/^IOTAD_TEST_PG_URL=//p' "$dir/env")
build/bench_pg_series "$url" "$@"
