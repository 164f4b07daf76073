#!/usr/bin/env bash
# Runs every test and exits non-zero on any failure: unit tests under ASan/UBSan (ctest),
# integration tests against a real iotad with real clients (pytest), short fuzz runs of every
# parser, the dashboard's tests when the dashboard exists, and the deployment tests (the
# container image built with podman and run, compose).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
status=0
# each stage's wall time at its end ("== took 812 s: make integration"): the CI's duration by stage
run() {
  local t0=$SECONDS
  echo "== $*"
  if ! "$@"; then echo "FAILED: $*"; status=1; fi
  echo "== took $((SECONDS - t0)) s: $*"
}
run make build   # the release build (-O2 finds warnings -O0 does not)
run make unit
run make integration
run make fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-15}"
if [ -f web/package.json ]; then
  run make web
  run bash -c "cd web && npm test"
fi
run make deploy-test   # container image built once with podman and run; compose
if [ $status -eq 0 ]; then echo "ALL TESTS PASSED"; else echo "SOME TESTS FAILED"; fi
exit $status
