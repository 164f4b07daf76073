#!/usr/bin/env bash
# Base images for building iotad's Containerfile on a machine that reaches no container
# registry, only Debian's archive and npm (CI here):
#   localhost/debian:bookworm-slim   Debian 12 from the archive (mmdebstrap), slimmed like
#                                    the registry's debian:bookworm-slim (no docs, man, locales)
#   localhost/node:20-bookworm-slim  that, plus this machine's Node.js 20 and npm
# Then: podman build --build-arg BASE_IMAGE=localhost/debian:bookworm-slim \
#         --build-arg NODE_IMAGE=localhost/node:20-bookworm-slim ...
# Existing images are kept (delete them to rebuild). Elsewhere use the registry images,
# the Containerfile's defaults.
set -euo pipefail
base=localhost/debian:bookworm-slim
node=localhost/node:20-bookworm-slim
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! podman image exists "$base"; then
  echo "container-bases: building $base with mmdebstrap"
  mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log' \
    bookworm "$tmp/rootfs.tar"
  podman import --quiet --change 'CMD ["bash"]' "$tmp/rootfs.tar" "$base" >/dev/null
fi
if ! podman image exists "$node"; then
  command -v node >/dev/null || { echo "container-bases: Node.js is not installed"; exit 1; }
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || { echo "container-bases: Node.js $major is older than 20"; exit 1; }
  echo "container-bases: building $node from $(command -v node) ($(node --version))"
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  mkdir -p "$tmp/ctx/usr/bin" "$tmp/ctx/usr/lib/node_modules"
  cp "$(readlink -f "$(command -v node)")" "$tmp/ctx/usr/bin/node"
  cp -a "$npm_dir" "$tmp/ctx/usr/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/ctx/usr/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/ctx/usr/bin/npx"
  printf 'FROM %s\nCOPY usr/ /usr/\nRUN node --version && npm --version\nCMD ["node"]\n' "$base" \
    >"$tmp/ctx/Containerfile"
  podman build --quiet --network=host -t "$node" "$tmp/ctx" >/dev/null
fi
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^($base|$node) "
