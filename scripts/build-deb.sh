#!/usr/bin/env bash
# Builds the Debian package from the release build (build/iotad) and the built dashboard
# (web/dist): scripts/build-deb.sh [OUT_DIR] -> OUT_DIR/iotad_<version>-<revision>_<arch>.deb
# (prints its path). DEB_REVISION sets the Debian revision (default 1). Contents: the binary,
# the dashboard, the systemd unit, /etc/iotad/iotad.conf (a conffile) and the maintainer
# scripts in deploy/debian/ (system user `iotad`, data in /var/lib/iotad). Depends are
# computed from the binary's shared libraries (dpkg-shlibdeps).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build}
bin=$root/build/iotad
web=$root/web/dist
[ -x "$bin" ] || { echo "build-deb: $bin is missing: make build" >&2; exit 1; }
[ -f "$web/index.html" ] || { echo "build-deb: $web is missing: make web" >&2; exit 1; }
version=$("$bin" version | awk '{print $2}')
revision=${DEB_REVISION:-1}
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/pkg
install -D -m 0755 "$bin" "$pkg/usr/bin/iotad"
strip --strip-unneeded "$pkg/usr/bin/iotad"
mkdir -p "$pkg/usr/share/iotad"
cp -r "$web" "$pkg/usr/share/iotad/web"
install -D -m 0644 "$root/deploy/debian/iotad.service" "$pkg/lib/systemd/system/iotad.service"
install -D -m 0644 "$root/deploy/debian/iotad.conf" "$pkg/etc/iotad/iotad.conf"
install -D -m 0644 "$root/README.md" "$pkg/usr/share/doc/iotad/README.md"
install -m 0644 "$root/docs/deploy.md" "$pkg/usr/share/doc/iotad/deploy.md"
cat >"$pkg/usr/share/doc/iotad/copyright" <<EOT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: iotad

Files: *
Copyright: the iotad authors
License: see the iotad source repository
EOT
printf 'iotad (%s-%s) unstable; urgency=medium\n\n  * Package built by scripts/build-deb.sh.\n\n -- iotad maintainers <iotad@localhost>  %s\n' \
  "$version" "$revision" "$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}")" |
  gzip -9n >"$pkg/usr/share/doc/iotad/changelog.Debian.gz"
# Depends from the binary's libraries; procps for the unit's ExecReload (/bin/kill)
mkdir -p "$work/src/debian"
printf 'Source: iotad\n\nPackage: iotad\nArchitecture: any\n' >"$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$pkg/usr/bin/iotad" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
mkdir -p "$pkg/DEBIAN"
cat >"$pkg/DEBIAN/control" <<EOT
Package: iotad
Version: $version-$revision
Architecture: $arch
Maintainer: iotad maintainers <iotad@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Depends: adduser, init-system-helpers (>= 1.54), procps, $shlibs
Section: net
Priority: optional
Description: real-time anomaly detection for IoT networks
 iotad takes telemetry from devices over MQTT, HTTP and WebSocket, stores it
 compactly, learns what normal looks like and alerts when something is wrong.
 This package runs it as a systemd service with its dashboard on port 8080 (8443
 with TLS) and MQTT on port 1883 (8883 with TLS); configuration in /etc/iotad,
 data in /var/lib/iotad.
EOT
echo /etc/iotad/iotad.conf >"$pkg/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$root/deploy/debian/$s" "$pkg/DEBIAN/$s"; done
mkdir -p "$out"
deb=$out/iotad_${version}-${revision}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
