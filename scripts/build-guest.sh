#!/usr/bin/env bash
# Builds the default guest from Debian packages only (apt-get download + dpkg -x):
#   build/guest/bzImage          Debian's cloud kernel, unmodified
#   build/guest/initramfs.cpio.gz busybox-static, the kernel's virtio modules, and /init
# Cached: does nothing when both outputs are newer than this script and the /init source.
# Usage: scripts/build-guest.sh [OUTDIR]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/guest}
init_src=$root/scripts/guest/init
if [ -s "$out/bzImage" ] && [ -s "$out/initramfs.cpio.gz" ] &&
	[ "$out/initramfs.cpio.gz" -nt "$0" ] && [ "$out/initramfs.cpio.gz" -nt "$init_src" ]; then
	exit 0
fi
"$root/scripts/deps.sh"
mkdir -p "$out/debs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The meta package names the current ABI's image package; download that one.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
if [ -z "$kpkg" ]; then
	apt-get update -q >/dev/null
	kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
fi
[ -n "$kpkg" ] || { echo "build-guest: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
(cd "$out/debs" && for p in "$kpkg" busybox-static; do
	ls "$p"_*.deb >/dev/null 2>&1 || apt-get download -q "$p" >/dev/null 2>&1 ||
		{ echo "build-guest: apt-get download $p failed" >&2; exit 1; }
done)
dpkg -x "$out/debs/$kpkg"_*.deb "$work/k"
dpkg -x "$out/debs"/busybox-static_*.deb "$work/bb"
kver=$(ls "$work/k/lib/modules")
cp "$work/k/boot/vmlinuz-$kver" "$out/bzImage.tmp"

# initramfs tree
r=$work/root
mkdir -p "$r"/{bin,sbin,dev,proc,sys,tmp,mnt,etc,root,lib/modules}
cp "$work/bb/bin/busybox" "$r/bin/busybox"
cp "$init_src" "$r/init"
chmod 755 "$r/init" "$r/bin/busybox"

# virtio modules and their dependencies, in modules.dep order (dependencies first).
moddir=$work/k/lib/modules/$kver
# The package ships no modules.dep (depmod runs at install time); make it here.
/sbin/depmod -b "$work/k" "$kver"
wanted="virtio_pci virtio_blk virtio_console virtio-rng virtio_net"
python3 - "$moddir" $wanted >"$work/order" <<'PY'
import sys, os
moddir, wanted = sys.argv[1], sys.argv[2:]
deps = {}
for line in open(os.path.join(moddir, "modules.dep")):
    mod, _, rest = line.partition(":")
    deps[mod] = rest.split()
byname = {os.path.basename(m)[:-3].replace("-", "_"): m for m in deps}
order = []
def visit(m):
    if m in order:
        return
    # modules.dep lists a module's dependencies with the deepest last: load those first.
    for d in reversed(deps[m]):
        visit(d)
    order.append(m)
for w in wanted:
    visit(byname[w.replace("-", "_")])
print("\n".join(order))
PY
while read -r m; do
	mkdir -p "$r/lib/modules/$(dirname "$m")"
	cp "$moddir/$m" "$r/lib/modules/$m"
done <"$work/order"
cp "$work/order" "$r/etc/modules.order"
(cd "$r" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -9n) >"$out/initramfs.cpio.gz.tmp"
mv "$out/bzImage.tmp" "$out/bzImage"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
echo "build-guest: $out/bzImage ($kver) and initramfs.cpio.gz ($(wc -l <"$work/order") modules)" >&2
