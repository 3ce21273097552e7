#!/usr/bin/env bash
# Short libFuzzer run (20 s) of tests/fuzz/qcow2_fuzz.c over the seed corpus
# in tests/fuzz/corpus/qcow2. The fuzzer carries its own ASan, so it runs
# only in the plain pass. VIREO_FUZZ_SECONDS overrides the duration.
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${VIREO_SANITIZED:-0}" = 1 ]; then
	echo "skip qcow2_fuzz: runs in the plain pass (it is sanitized itself)"
	exit 0
fi
if ! command -v clang >/dev/null; then
	echo "skip qcow2_fuzz: clang not installed"
	exit 0
fi
W=$(mktemp -d /tmp/vireo-fuzz.XXXXXX)
trap 'rm -rf "$W"' EXIT
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' >"$W/t.c" ||
	! clang -fsanitize=fuzzer "$W/t.c" -o "$W/t" 2>/dev/null; then
	echo "skip qcow2_fuzz: clang's libFuzzer runtime is missing (libclang-rt-14-dev)"
	exit 0
fi
srcs=$(ls "$root"/src/block/*.c "$root"/src/core/*.c)
if ! clang -std=c11 -D_GNU_SOURCE -O1 -g -I"$root/src" -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined $srcs "$root/tests/fuzz/qcow2_fuzz.c" \
	-o "$W/qcow2_fuzz" -lpthread -lz -lzstd -lm 2>"$W/build.log"; then
	echo "not ok qcow2_fuzz_build: clang failed"
	tail -20 "$W/build.log"
	exit 0
fi
echo "ok qcow2_fuzz_build"
mkdir -p "$W/corpus"
secs=${VIREO_FUZZ_SECONDS:-20}
if "$W/qcow2_fuzz" -max_total_time="$secs" -max_len=262144 -rss_limit_mb=1024 -timeout=10 \
	-print_final_stats=1 "$W/corpus" "$root/tests/fuzz/corpus/qcow2" >"$W/fuzz.log" 2>&1; then
	echo "ok qcow2_fuzz_run: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$W/fuzz.log" | grep -o '[0-9]*$') executions in ${secs}s, no crash"
else
	echo "not ok qcow2_fuzz_run: the fuzzer found a problem"
	grep -E 'ERROR|SUMMARY|#[0-9]+ 0x' "$W/fuzz.log" | head -30
	cp "$W"/crash-* "$W"/leak-* "$W"/timeout-* /tmp/ 2>/dev/null && echo "# reproducer copied to /tmp"
fi
