#!/usr/bin/env bash
# Differential tests of the emulated x86-64 CPU against the host CPU
# (tests/difftest/): harness self-tests, then one line per instruction group.
# CI size by default (about 10,000 cases); VIREO_LONG=1 (make test-long) runs
# about 200,000. VIREO_DIFFTEST_SEED=N picks another deterministic seed.
set -u
bin="${VIREO_BUILD:-build}/difftest"
if [ ! -x "$bin" ]; then
	echo "not ok cpu-difftest: $bin not built"
	exit 0
fi
exec "$bin"
