#!/usr/bin/env bash
# Builds kith_<version>_<arch>.deb from a single binary made by packaging/build.ts, with
# dpkg-deb --root-owner-group -Zxz: a plain tree and four maintainer scripts need no source
# package (debhelper) and no tool that is not in Debian (nfpm); files are root-owned in the
# archive without fakeroot; xz shrinks the 105 MiB binary to ~37 MiB.
#   packaging/build-deb.sh [amd64|arm64] [--version 0.1.0-1] [--binary FILE] [--level 0-9]
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-amd64}
shift || true
version="$(node -p 'require("./package.json").version')-1"
binary=""
level=6
while [ $# -gt 0 ]; do
	case "$1" in
	--version) version=$2; shift 2 ;;
	--binary) binary=$2; shift 2 ;;
	--level) level=$2; shift 2 ;; # xz level; 6 for releases, 0 for a quick test package
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done
case "$arch" in
amd64) binary=${binary:-packaging/out/kith-linux-x64} ;;
arm64) binary=${binary:-packaging/out/kith-linux-arm64} ;;
*) echo "arch must be amd64 or arm64 (Bun has no other Linux targets; see packaging/README.md)" >&2; exit 2 ;;
esac
[ -x "$binary" ] || { echo "$binary is missing: run node_modules/.bin/bun packaging/build.ts first" >&2; exit 1; }
[ -f dist/web/index.html ] || { echo "dist/web is missing (the web UI): run npm run build first" >&2; exit 1; }

out=packaging/out
root=$(mktemp -d "$out/deb-root.XXXXXX")
trap 'rm -rf "$root"' EXIT
src=packaging/debian

install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/kith" \
	"$root/usr/share/doc/kith" "$root/usr/share/man/man1" "$root/usr/share/lintian/overrides" "$root/usr/share/kith/web"
# Never strip a Bun binary: the JavaScript is appended to the executable (docs/PLATFORM.md).
install -m 0755 "$binary" "$root/usr/bin/kith"
# The web UI's built files; the agent finds them from its executable (agent/ui-static.ts).
install -m 0644 dist/web/index.html dist/web/*.js dist/web/*.css "$root/usr/share/kith/web/"
install -m 0644 systemd/kith.service "$root/lib/systemd/system/kith.service"
install -m 0644 "$src/config.toml" "$root/etc/kith/config.toml"
install -m 0644 "$src/copyright" "$root/usr/share/doc/kith/copyright"
install -m 0644 "$src/lintian-overrides" "$root/usr/share/lintian/overrides/kith"
gzip -9n <"$src/kith.1" >"$root/usr/share/man/man1/kith.1.gz"
printf 'kith (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- kith developers <kith@kith.invalid>  %s\n' \
	"$version" "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" "$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" |
	gzip -9n >"$root/usr/share/doc/kith/changelog.Debian.gz"
chmod 0644 "$root/usr/share/man/man1/kith.1.gz" "$root/usr/share/doc/kith/changelog.Debian.gz"
install -m 0755 "$src/postinst" "$src/prerm" "$src/postrm" "$root/DEBIAN/"
echo /etc/kith/config.toml >"$root/DEBIAN/conffiles"
size_kib=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: kith
Version: $version
Architecture: $arch
Maintainer: kith developers <kith@kith.invalid>
Installed-Size: $size_kib
Depends: libc6 (>= 2.31), libstdc++6, adduser, init-system-helpers (>= 1.52)
Recommends: systemd
Section: net
Priority: optional
Description: private friend clusters between the machines of people who have met
 kith is a small agent for home routers, NAS boxes and laptops: the machines of
 friends form a private cluster over UDP, find each other through NATs, and
 agree on things together. This package runs it as the systemd service
 kith.service under the system user kith, with its state in /var/lib/kith.
CONTROL
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

deb="$out/kith_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz -z"$level" --build "$root" "$deb" >/dev/null
printf '%s  %s (installed %s)\n' "$(du -h "$deb" | cut -f1)" "$deb" "$(numfmt --to=iec --suffix=B $((size_kib * 1024)))"
