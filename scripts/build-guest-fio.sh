#!/usr/bin/env bash
# Builds build/guest/initramfs-fio.cpio.gz: the default initramfs
# (scripts/build-guest.sh) followed by a second, uncompressed cpio archive
# holding Debian's fio (the host's /usr/bin/fio, from the fio package) with the
# libraries it needs. The kernel unpacks concatenated archives one after the
# other (Documentation/driver-api/early-userspace/buffer-format.rst), so the
# default initramfs stays small and only the block tests and bench/blk pay for
# fio. The extra archive is left uncompressed: on the emulated CPU the kernel's
# inflate costs more than copying the bytes.
#
# Debian's fio links every ioengine's client library (ceph, gluster, rdma,
# nbd, pmem: ~100 MiB with their dependencies). Those engines are never used
# here, so each of those libraries is replaced by a stub of the same soname
# that defines just the symbols (and symbol versions) fio imports from it;
# fio is linked with BIND_NOW, so every import must resolve at load time.
# libc, libm, libz, libaio and libnuma are the host's real ones.
#
# Cached: does nothing when the output is newer than this script, the default
# initramfs and /usr/bin/fio.
# Usage: scripts/build-guest-fio.sh [OUTDIR]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/guest}
"$root/scripts/build-guest.sh" "$out"
base=$out/initramfs.cpio.gz
dst=$out/initramfs-fio.cpio.gz
fio=/usr/bin/fio
if [ -s "$dst" ] && [ "$dst" -nt "$0" ] && [ "$dst" -nt "$base" ] && [ "$dst" -nt "$fio" ]; then
	exit 0
fi
[ -x "$fio" ] || "$root/scripts/deps.sh"
[ -x "$fio" ] || { echo "build-guest-fio: no $fio" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/root
mkdir -p "$r/usr/bin" "$r/lib64" "$r/lib/x86_64-linux-gnu"
cp "$fio" "$r/usr/bin/fio"

# Kept libraries: the real files, at the paths the host's loader uses.
keep='libc.so.6 libm.so.6 libz.so.1 libaio.so.1 libnuma.so.1'
ldd "$fio" >"$work/ldd"
for lib in $keep; do
	path=$(awk -v l="$lib" '$1 == l { print $3 }' "$work/ldd")
	[ -n "$path" ] || { echo "build-guest-fio: ldd finds no $lib for $fio" >&2; exit 1; }
	cp -L "$path" "$r/lib/x86_64-linux-gnu/$lib"
done
interp=$(awk '/ld-linux/ { print $1 }' "$work/ldd")
cp -L "$interp" "$r/lib64/$(basename "$interp")"

# Stub libraries for every other DT_NEEDED entry.
objdump -p "$fio" >"$work/objdump"
nm -D --undefined-only "$fio" | awk '{ print $2 }' >"$work/undef"
for lib in $keep; do
	nm -D --defined-only "$r/lib/x86_64-linux-gnu/$lib" | awk '{ print $3 }' | sed 's/@.*//'
done | sort -u >"$work/kept-syms"
KEEP_LIBS="$keep" python3 - "$work" <<'PY'
import os, re, sys
work = sys.argv[1]
needed, ver_lib, cur = [], {}, None
for line in open(os.path.join(work, "objdump")):
    m = re.match(r"\s+NEEDED\s+(\S+)", line)
    if m:
        needed.append(m.group(1))
    m = re.match(r"\s+required from (\S+):", line)
    if m:
        cur = m.group(1)
        continue
    m = re.match(r"\s+0x[0-9a-f]+ 0x[0-9a-f]+ \d+ (\S+)", line)
    if m and cur:
        ver_lib[m.group(1)] = cur
kept_syms = set(open(os.path.join(work, "kept-syms")).read().split())
kept_libs = set(os.environ["KEEP_LIBS"].split())
stubs = {lib: {} for lib in needed if lib not in kept_libs}
loose = []
for sym in open(os.path.join(work, "undef")).read().split():
    name, _, ver = sym.partition("@")
    if ver:
        lib = ver_lib.get(ver)
        if lib in stubs:
            stubs[lib].setdefault(ver, []).append(name)
    elif name not in kept_syms and not name.startswith(("_ITM_", "__gmon")):
        loose.append(name)
# Unversioned imports bind to whichever loaded object defines them: give
# them to the stubs that have no symbol versions (librados, librbd).
for lib, vers in stubs.items():
    if not vers:
        vers[None] = loose
for lib, vers in stubs.items():
    base = os.path.join(work, "stub-" + lib)
    with open(base + ".c", "w") as c:
        for names in vers.values():
            for n in names:
                c.write("long %s(void);\nlong %s(void) { return -1; }\n" % (n, n))
    with open(base + ".map", "w") as m:
        prev = None
        for ver, names in vers.items():
            if ver is None:
                m.write("{ global: %s; local: *; };\n" % "; ".join(names))
                continue
            m.write("%s { global: %s; }%s;\n" % (ver, "; ".join(names), " " + prev if prev else ""))
            prev = ver
    print(lib, file=sys.stderr) if os.environ.get("V") else None
PY
[ -s "$work/stub-libc.so.6.c" ] && { echo "build-guest-fio: libc would be stubbed" >&2; exit 1; }
for c in "$work"/stub-*.c; do
	lib=$(basename "$c" .c)
	lib=${lib#stub-}
	cc -shared -fPIC -O2 -s -o "$r/lib/x86_64-linux-gnu/$lib" -Wl,-soname,"$lib" \
		-Wl,--version-script="$work/stub-$lib.map" "$c"
done
# The emulated CPU (--accel emu) does not advertise MMX, which the x86-64
# baseline includes, and glibc (2.33+) refuses to load an object whose
# GNU_PROPERTY_X86_ISA_1_NEEDED note asks for a level the CPU lacks ("CPU ISA
# level is lower than required"). These binaries use no MMX instruction (the
# baseline's code uses SSE2), so the guest's copies get an empty ISA
# requirement. Harmless on a CPU that has the baseline.
python3 - "$r" <<'PY'
import os, struct, sys
def clear_isa_needed(path):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2:
            return
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        for i in range(phnum):
            ptype, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
            if ptype != 0x6474e553:  # PT_GNU_PROPERTY
                continue
            namesz, descsz, ntype = struct.unpack_from("<III", data, off)
            desc = off + 12 + ((namesz + 3) & ~3)
            p = desc
            while ntype == 5 and p + 8 <= desc + descsz:  # NT_GNU_PROPERTY_TYPE_0
                prtype, prsz = struct.unpack_from("<II", data, p)
                if prtype == 0xc0008002 and prsz == 4:  # GNU_PROPERTY_X86_ISA_1_NEEDED
                    struct.pack_into("<I", data, p + 8, 0)
                p += 8 + ((prsz + 7) & ~7)
        f.seek(0)
        f.write(data)
for d, _, files in os.walk(sys.argv[1]):
    for n in files:
        clear_isa_needed(os.path.join(d, n))
PY
# The result must load and run: try it in a chroot of the new tree alone
# (root only; elsewhere the guest is the first to run it).
if [ "$(id -u)" = 0 ]; then
	chroot "$r" /usr/bin/fio --version >/dev/null ||
		{ echo "build-guest-fio: fio does not run with its stubs" >&2; exit 1; }
fi
(cd "$r" && find . -mindepth 1 | sort | cpio -o -H newc --quiet -R 0:0) >"$work/fio.cpio"
# An uncompressed archive must start 4-byte aligned in the initrd; the
# kernel skips the zeros that pad the gzip member up to it.
pad=$(( (4 - $(stat -c %s "$base") % 4) % 4 ))
{ cat "$base"; head -c "$pad" /dev/zero; cat "$work/fio.cpio"; } >"$dst.tmp"
mv "$dst.tmp" "$dst"
echo "build-guest-fio: $dst ($(du -k "$dst" | cut -f1) KiB)" >&2
