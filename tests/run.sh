#!/usr/bin/env bash
# Vireo's test runner. Every test speaks one tiny protocol on stdout:
#   "ok NAME", "not ok NAME: why" or "skip NAME: why", one line per case.
# Unit tests are the binaries in BUILD/tests/; integration tests are the
# executable scripts tests/integration/*.sh (they find binaries via $VIREO_BUILD).
# The suite runs against build/ and, unless VIREO_SAN=0, again against build-san/.
# It ends with the line "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
root=$PWD
pass=0 fail=0 skip=0
failed_names=()
log_dir=$(mktemp -d /tmp/vireo-tests.XXXXXX)

run_one() { # label, command...
	local label=$1; shift
	local out="$log_dir/$(echo "$label" | tr '/ ' '__').log"
	local t0=$SECONDS
	# A hung test must not hang the whole suite (or CI): each file gets a
	# generous time limit, then fails.
	timeout -k 10 "${VIREO_TEST_TIMEOUT:-900}" "$@" >"$out" 2>&1
	local rc=$?
	[ "$rc" -eq 124 ] && echo "not ok $label: timed out after ${VIREO_TEST_TIMEOUT:-900} s" >>"$out"
	local p f s
	p=$(grep -c '^ok ' "$out"); f=$(grep -c '^not ok ' "$out"); s=$(grep -c '^skip ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok $label: exited $rc without reporting a failure" >>"$out"
		f=1
	fi
	if [ $((p + f + s)) -eq 0 ]; then
		echo "not ok $label: reported no test case" >>"$out"
		f=1
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	printf '%-50s %3d ok %3d failed %3d skipped (%ds)\n' "$label" "$p" "$f" "$s" $((SECONDS - t0))
	if [ "$f" -ne 0 ]; then
		grep -E '^not ok ' "$out" | sed 's/^/    /'
		echo "    --- last lines of $label ---"
		tail -n 25 "$out" | sed 's/^/    | /'
		failed_names+=("$label")
	fi
}

suite() { # build dir
	local b=$1
	export VIREO_BUILD=$root/$b
	for t in "$b"/tests/test_*; do
		[ -x "$t" ] || continue
		run_one "$b/$(basename "$t")" "$t"
	done
	for t in tests/integration/*.sh; do
		[ -x "$t" ] || continue
		run_one "$b:$(basename "$t" .sh)" "$t"
	done
}

suite build
if [ "${VIREO_SAN:-1}" != 0 ] && [ -d build-san ]; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87
	export VIREO_SANITIZED=1
	suite build-san
fi
echo "logs: $log_dir"
[ ${#failed_names[@]} -eq 0 ] || echo "failed: ${failed_names[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
