# Helpers for the img_*.sh tests (sourced, not run: not executable).
V="${VIREO_BUILD:-build}/vireo-img"
W=$(mktemp -d /tmp/vireo-img-test.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1

# check NAME CMD...: "ok NAME" if CMD succeeds, else "not ok" with its output.
check() {
	local name=$1; shift
	local out
	if out=$("$@" 2>&1); then
		echo "ok $name"
	else
		echo "not ok $name: $* failed"
		printf '%s\n' "$out" | tail -n 15 | sed 's/^/    /'
	fi
}

need_qemu() {
	if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null; then
		echo "skip $1: qemu-img/qemu-io not installed"
		exit 0
	fi
}

# Both tools read IMG identically (as raw).
same_raw() {
	local img=$1
	rm -f "$W/q.raw" "$W/v.raw"
	qemu-img convert -O raw "$img" "$W/q.raw" &&
		"$V" convert -O raw "$img" "$W/v.raw" &&
		cmp "$W/q.raw" "$W/v.raw"
}

export -f same_raw
export V W

# qemu-img check exits 0 (no leaks) or 3 (leaks only) -> ok when leaks allowed.
qcheck_clean() {
	qemu-img check "$1"
}
