#!/usr/bin/env bash
# Runs every libFuzzer target built by `make FUZZ=1 fuzzers` for a short time
# on its seed corpus (tests/fuzz/corpus/NAME/). Longer under VIREO_LONG=1.
# Runs once, in the plain pass: the fuzzers carry their own sanitizers.
cd "$(dirname "$0")/../.."
if [ "${VIREO_SANITIZED:-0}" = 1 ]; then
	echo "skip fuzz: runs in the plain pass only (fuzzers are ASan builds already)"
	exit 0
fi
secs=${VIREO_FUZZ_SECONDS:-15}
[ "${VIREO_LONG:-0}" = 1 ] && secs=300
found=0
for f in build-fuzz/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	found=1
	name=$(basename "$f"); name=${name#fuzz_}
	corpus=tests/fuzz/corpus/$name
	work=$(mktemp -d)
	[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
	if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
		-artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
		echo "ok fuzz_$name ($secs s, $(grep -o 'cov: [0-9]*' "$work.log" | tail -1))"
	else
		echo "not ok fuzz_$name: crash or leak; artifacts in $work"
		tail -n 30 "$work.log"
		continue
	fi
	rm -rf "$work" "$work.log"
done
[ $found = 1 ] || echo "skip fuzz: no fuzz targets built (make FUZZ=1 fuzzers)"
