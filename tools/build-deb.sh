#!/usr/bin/env bash
# Builds the Debian package from an already built binary (it does not run cargo):
#
#   cargo build --release
#   tools/build-deb.sh [BINARY] [OUTDIR]    # default: target/release/logship, target
#
# Writes OUTDIR/logship_VERSION_ARCH.deb holding /usr/bin/logship (stripped), the
# systemd units (tools/systemd/) in /lib/systemd/system, /etc/logship/logship.toml
# and /etc/default/logship-{primary,standby} (conffiles), man pages, bash, zsh and
# fish completions, docs/packaging.md, and the maintainer scripts (a `logship`
# system user, /var/lib/logship 0750). Needs dpkg-deb, gzip, strip; prints the
# package's path. tests/systemd.rs runs it and lists the result. See docs/packaging.md.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/logship}
OUT=${2:-${CARGO_TARGET_DIR:-target}}
UNITS=tools/systemd

if [ ! -x "$BIN" ]; then
    echo "build-deb: $BIN is not an executable; run cargo build --release first" >&2
    exit 1
fi
for tool in dpkg-deb gzip strip; do
    command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing" >&2; exit 1; }
done

VERSION=$("$BIN" --version | awk '{ print $2 }')
ARCH=$(dpkg-deb --version >/dev/null && dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
chmod 0755 "$STAGE"

dir() { install -d -m 0755 "$STAGE/$1"; }
file() { install -D -m "$1" "$2" "$STAGE/$3"; }

file 0755 "$BIN" usr/bin/logship
strip --strip-unneeded "$STAGE/usr/bin/logship"
for unit in logship@.service logship-primary.service logship-standby.service; do
    file 0644 "$UNITS/$unit" "lib/systemd/system/$unit"
done
file 0644 "$UNITS/logship.toml" etc/logship/logship.toml
file 0644 "$UNITS/logship-primary.default" etc/default/logship-primary
file 0644 "$UNITS/logship-standby.default" etc/default/logship-standby

dir usr/share/man/man1
"$BIN" man "$STAGE/usr/share/man/man1" >/dev/null
gzip -9n "$STAGE"/usr/share/man/man1/*.1
chmod 0644 "$STAGE"/usr/share/man/man1/*

dir usr/share/bash-completion/completions
dir usr/share/zsh/vendor-completions
dir usr/share/fish/vendor_completions.d
"$BIN" completions bash >"$STAGE/usr/share/bash-completion/completions/logship"
"$BIN" completions zsh >"$STAGE/usr/share/zsh/vendor-completions/_logship"
"$BIN" completions fish >"$STAGE/usr/share/fish/vendor_completions.d/logship.fish"

file 0644 docs/packaging.md usr/share/doc/logship/packaging.md
file 0644 README.md usr/share/doc/logship/README.md
cat >"$STAGE/usr/share/doc/logship/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: logship

Files: *
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
chmod 0644 "$STAGE/usr/share/doc/logship/copyright"
find "$STAGE" -type f \( -path '*/usr/share/*' -o -path '*/etc/*' -o -path '*/lib/*' \) -exec chmod 0644 {} +

dir DEBIAN
cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: logship
Version: $VERSION
Architecture: $ARCH
Maintainer: logship maintainers <logship@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
Depends: adduser, libc6
Section: database
Priority: optional
Description: transaction-log-shipping warm-standby replicator
 A durable Redis-protocol primary that writes a checksummed write-ahead log
 and ships it to warm standbys, which replay it and serve reads; promotion
 with an LSN check, fencing, archive to object storage, point-in-time
 restore. systemd units with readiness and watchdog notification.
CONTROL
printf '%s\n' /etc/logship/logship.toml /etc/default/logship-primary \
    /etc/default/logship-standby >"$STAGE/DEBIAN/conffiles"

cat >"$STAGE/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if ! getent passwd logship >/dev/null; then
        adduser --system --group --home /var/lib/logship --no-create-home \
            --gecos "logship replicator" logship
    fi
    install -d -o logship -g logship -m 0750 /var/lib/logship
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
    fi
fi
exit 0
POSTINST

cat >"$STAGE/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
# A node is stopped cleanly (checkpoint, last shipment) before its binary goes.
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl stop logship-primary.service logship-standby.service 'logship@*.service' \
        >/dev/null 2>&1 || true
fi
exit 0
PRERM

cat >"$STAGE/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
    # The data directories hold the only copy of a primary's log: kept.
    if [ -d /var/lib/logship ]; then
        echo "logship: /var/lib/logship (the nodes' data) is kept; remove it by hand" >&2
    fi
    if getent passwd logship >/dev/null && command -v deluser >/dev/null; then
        deluser --system --quiet logship || true
    fi
fi
exit 0
POSTRM
chmod 0755 "$STAGE"/DEBIAN/postinst "$STAGE"/DEBIAN/prerm "$STAGE"/DEBIAN/postrm

mkdir -p "$OUT"
DEB="$OUT/logship_${VERSION}_${ARCH}.deb"
dpkg-deb --build --root-owner-group -Zgzip "$STAGE" "$DEB" >/dev/null
echo "$DEB"
