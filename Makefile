# Thin wrapper around CMake. `make` leaves the release binary at build/iotad.
#   make            release build (build/)
#   make check      every test: ASan/UBSan unit tests (ctest), integration tests (pytest),
#                   short fuzz runs, dashboard tests
#   make unit | integration | fuzz | web | bench
#   make image      the container image (podman; IMAGE=...), base images built locally
#                   when no registry is reachable (scripts/container-bases.sh)
#   make deb        the Debian package in build/deb/ (scripts/build-deb.sh)
#   make deploy-test  image + deb, then the tests that run them (tests/deploy)
JOBS ?= 2
FUZZ_SECONDS ?= 20
PYTHON ?= /usr/bin/python3

.PHONY: all build test-build unit integration fuzz web check clean run bench image deb deploy-test

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
	IOTAD_BIN=$(CURDIR)/build-test/iotad $(PYTHON) -m pytest -q --durations=25 tests/integration

fuzz:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIOTAD_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j$(JOBS)
	JOBS=$(JOBS) scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

web:
	@if [ -f web/package.json ]; then cd web && npm ci --no-audit --no-fund && npm run build; fi

check: unit integration fuzz

# Container image. Without a registry (CI here) the base images come from Debian's archive
# and this machine's Node.js; the host's npm cache is lent to the dashboard stage.
IMAGE ?= localhost/iotad:dev-$(shell printf %s '$(CURDIR)' | md5sum | cut -c1-8)
BASE_IMAGE ?= localhost/debian:bookworm-slim
NODE_IMAGE ?= localhost/node:20-bookworm-slim
export CONTAINERS_CONF ?= $(CURDIR)/tests/deploy/containers.conf
image:
	scripts/container-bases.sh
	mkdir -p $(HOME)/.npm
	podman build --format docker --network=host -v $(HOME)/.npm:/root/.npm \
	  --build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg NODE_IMAGE=$(NODE_IMAGE) -t $(IMAGE) .
	@podman image ls --format 'image {{.Repository}}:{{.Tag}} {{.Size}}' $(IMAGE)

deb: build web
	rm -rf build/deb && scripts/build-deb.sh build/deb

deploy-test: build image deb
	IOTAD_IMAGE=$(IMAGE) IOTAD_BASE_IMAGE=$(BASE_IMAGE) \
	  IOTAD_DEB=$$(ls build/deb/iotad_*.deb | head -1) $(PYTHON) -m pytest -q tests/deploy

bench: build
	@echo "see bench/README.md"

clean:
	rm -rf build build-test build-fuzz
