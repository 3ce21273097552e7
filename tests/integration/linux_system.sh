#!/usr/bin/env bash
# System-mode checks of the default guest (scripts/build-guest.sh: Debian's
# cloud kernel, busybox) on the emulated CPU (--accel emu), as a user sees it:
#   linux_stdin_shell        a line written on vireo's stdin runs in the
#                            guest's shell on the serial console
#   linux_dmesg_clean        no platform-caused warnings in the kernel log
#                            (TSC unstable, APIC calibration, spurious
#                            interrupt storms, unchecked MSRs, WARNING/BUG)
#   linux_userspace_busybox  md5sum, sha256sum, gzip -9, sort, awk (float
#                            too), bzip2 give in the guest what the host's
#                            /bin/busybox gives on the same data
#   linux_serial_1mib        1 MiB written by the guest on ttyS0 arrives
#                            byte-exact
#   linux_sleep_time         'sleep 5' takes 5 s (+-10%) of host time
#   linux_idle_cpu           an idle 2-vCPU guest costs under 5% of a core
#   linux_reboot             'reboot -f' boots the kernel a second time
# (The guest's date against the host's is linux_boot.sh's linux_date.)
#
# One boot (A, 2 vCPUs) runs all of it: the guest script travels on a
# read-only disk (vda), and a second disk (vdb) tells the boots apart: the
# first writes a mark there and reboots, the second finds it, dumps its own
# kernel log and powers off. Only if a timing check fails is a short boot
# (R) run to measure again: a loaded CI machine can delay a console line.
#
# The sanitizer pass (VIREO_SANITIZED=1, several times slower) boots once on
# one vCPU for the stdin, dmesg and userspace checks and skips the others.
set -u
cd "$(dirname "$0")/../.."
V=${VIREO_BUILD:-build}/vireo
BOOT_TIMEOUT=${LINUX_BOOT_TIMEOUT:-400}
SAN=${VIREO_SANITIZED:-0}
CASES_SAN="linux_stdin_shell linux_dmesg_clean linux_userspace_busybox"
CASES_FULL="linux_serial_1mib linux_sleep_time linux_idle_cpu linux_reboot"

skip_all() {
	for n in $CASES_SAN $CASES_FULL; do echo "skip $n: $1"; done
	exit 0
}

if [ ! -x "$V" ]; then
	for n in $CASES_SAN $CASES_FULL; do echo "not ok $n: $V not built"; done
	exit 0
fi
[ -x /bin/busybox ] || skip_all "no /bin/busybox on the host (busybox-static) to compare with"
# The guest comes from Debian packages: without network (and no cached
# build) there is nothing to boot.
if ! scripts/build-guest.sh >/tmp/vireo-build-guest.log 2>&1; then
	skip_all "the default guest could not be built (scripts/build-guest.sh: $(tail -n 1 /tmp/vireo-build-guest.log))"
fi
KERNEL=build/guest/bzImage
INITRD=build/guest/initramfs.cpio.gz

tmp=$(mktemp -d /tmp/vireo-linux-system.XXXXXX)
[ -n "${LINUX_KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
# A vireo that exits early must not kill this script with SIGPIPE.
trap '' PIPE

. tests/integration/linux_lib.sh

ok() { echo "ok $1"; }
fail() { echo "not ok $1: $2"; }
md5() { md5sum | cut -d' ' -f1; }
TICK=$(getconf CLK_TCK)

# The userspace workload, run by the guest's busybox and by the host's
# /bin/busybox alike; $W is a scratch directory. Debian's busybox awk has no
# libm functions (sqrt, sin...): its floating point is + - * / and printf,
# IEEE-exact, so every digit must match.
WORKLOAD=$(cat <<'EOF'
awk 'BEGIN { x = 1; for (i = 0; i < 20000; i++) { x = (x * 69069 + 1) % 4294967296; printf "%d %08x %d\n", i, x, x % 1000 } }' >$W/d
kv() { echo "$1=$2"; }
kv UW_md5 "$(md5sum <$W/d | cut -d" " -f1)"
kv UW_sha256 "$(sha256sum <$W/d | cut -d" " -f1)"
kv UW_gzip "$(gzip -9 <$W/d | md5sum | cut -d" " -f1)"
kv UW_gunzip "$(gzip -9 <$W/d | gzip -d | md5sum | cut -d" " -f1)"
kv UW_bzip2 "$(bzip2 -9 <$W/d | md5sum | cut -d" " -f1)"
kv UW_sort "$(sort -k2 <$W/d | md5sum | cut -d" " -f1)"
kv UW_sortn "$(sort -k3,3n -k1,1nr <$W/d | md5sum | cut -d" " -f1)"
kv UW_uniq "$(cut -d" " -f3 <$W/d | sort | uniq -c | sort -rn | head -n 3 | tr -s " \n" " ")"
kv UW_awk "$(awk 'BEGIN { s = 0; for (i = 1; i <= 20000; i++) s += i / (i + 0.5) * 1.0000001 - int(i / 7) * 0.001 + (i % 13) / 3; printf "%.17g", s }')"
kv UW_awkn "$(awk 'BEGIN { for (i = 2; i <= 3000; i++) { x = i; for (k = 0; k < 8; k++) x = (x + i / x) / 2; s += x; p = p * 1.001 + 1 / i } printf "%.17g %.17g %e", s, p, s * p * 1e300 }')"
kv UW_awkw "$(awk '{ n[$3 % 7]++; t += $3 } END { for (k = 0; k < 7; k++) printf "%d ", n[k]; print t }' <$W/d)"
EOF
)

# The 1 MiB console stream: 16384 lines of 64 bytes (63 printable, no \r,
# then \n), each shifted along the printable ASCII range.
STREAM_GEN='awk '\''BEGIN { a = ""; for (c = 33; c < 127; c++) a = a sprintf("%c", c); a = a a; for (i = 0; i < 16384; i++) printf "%05d %s\n", i, substr(a, i % 94 + 1, 57) }'\'

# What the guest runs; MODE is full, san or timing (boot R).
guest_script() {
	cat <<EOF
MODE=$1
W=/tmp
gen_stream() { $STREAM_GEN; }
EOF
	cat <<'EOF'
kv() { echo "$1=$2"; }
# Kernel messages must not land in the middle of what is compared.
dmesg -n 1
dump_dmesg() {
	echo "DMESG-BEGIN=$1"
	dmesg
	echo "DMESG-END=$1"
}
if [ "$MODE" = timing ]; then
	echo SLEEP-BEGIN=1; sleep 5; echo SLEEP-END=1
	echo IDLE-BEGIN=1; sleep 6; echo IDLE-END=1
	exit 0
fi
if [ "$(head -c 11 /dev/vdb)" = REBOOT-MARK ]; then
	kv SECOND_BOOT 1
	dump_dmesg 2
	exit 0
fi
# stdin: an interactive shell on the console runs what the host types.
kv STDIN_READY 1
sh
kv STDIN_DONE 1
EOF
	printf '%s\n' "$WORKLOAD"
	cat <<'EOF'
if [ "$MODE" = full ]; then
	echo SLEEP-BEGIN=1; sleep 5; echo SLEEP-END=1
	echo IDLE-BEGIN=1; sleep 6; echo IDLE-END=1
	gen_stream >/tmp/stream
	kv STREAM_MD5 "$(md5sum </tmp/stream | cut -d" " -f1)"
	echo STREAM-BEGIN=1
	cat /tmp/stream
	echo STREAM-END=1
fi
dump_dmesg 1
if [ "$MODE" = full ]; then
	printf 'REBOOT-MARK\n' | dd of=/dev/vdb conv=fsync 2>/dev/null
	kv MARK_RC $?
	kv REBOOTING 1
	reboot -f
	sleep 10
	kv REBOOT_FAILED 1
fi
EOF
}

# launch NAME MODE ARGS...: boots with the guest script for MODE and ARGS,
# console lines with their host arrival time in microseconds in
# $tmp/NAME.out (the format linux_lib.sh's value and why read), the raw
# console bytes in $tmp/NAME.raw. Lines starting "IDLE-" are followed by a
# line "HOSTCPU_<line>=TICKS": vireo's CPU time (all threads, utime +
# stime) when it arrived. Whoever waits for STDIN_READY=1 gets the line in
# $STDIN_LINE typed on the console.
launch() {
	local name=$1 mode=$2
	shift 2
	guest_script "$mode" >"$tmp/$name.script.img"
	truncate -s 64K "$tmp/$name.script.img"
	truncate -s 1M "$tmp/$name.mark.img"
	local cmd
	cmd=$(printf '%s' 'tr -d "\000" </dev/vda >/tmp/t.sh; sh /tmp/t.sh' | base64 -w0)
	mkfifo "$tmp/$name.in" "$tmp/$name.pipe"
	: >"$tmp/$name.out"
	# Read-write: vireo's open of its stdin does not wait for a writer, and
	# stdin stays open (no EOF) for the whole boot.
	exec 3<>"$tmp/$name.in"
	(exec "$V" --accel emu --kernel "$KERNEL" --initrd "$INITRD" \
		--cmdline "vireo.cmd=$cmd" \
		--disk "$tmp/$name.script.img,readonly=on" --disk "$tmp/$name.mark.img" \
		"$@" <"$tmp/$name.in" >"$tmp/$name.pipe" 2>"$tmp/$name.err") &
	local vpid=$! rpid
	tee "$tmp/$name.raw" <"$tmp/$name.pipe" | while IFS= read -r line; do
		line=${line%$'\r'}
		printf '%s %s\n' "${EPOCHREALTIME//[!0-9]/}" "$line"
		if [[ $line == IDLE-* ]]; then
			local st
			read -r st <"/proc/$vpid/stat"
			st=${st##*) }
			set -- $st
			printf '%s HOSTCPU_%s=%s\n' "${EPOCHREALTIME//[!0-9]/}" "$line" $((${12} + ${13}))
		fi
	done >"$tmp/$name.out" &
	rpid=$!
	local deadline=$((SECONDS + BOOT_TIMEOUT)) typed=0
	while kill -0 "$vpid" 2>/dev/null; do
		if [ $typed = 0 ] && [ -n "$(value "$name" STDIN_READY)" ]; then
			printf '%s\n' "$STDIN_LINE" >&3
			typed=1
		fi
		if [ $SECONDS -ge $deadline ]; then
			echo "timed out after ${BOOT_TIMEOUT}s" >>"$tmp/$name.err"
			kill "$vpid"
			sleep 5
			kill -9 "$vpid" 2>/dev/null
			break
		fi
		sleep 0.2
	done
	wait "$vpid"
	echo $? >"$tmp/$name.rc"
	wait "$rpid"
	exec 3>&-
}

# span NAME FROM TO: microseconds between the arrival of two lines.
arrival() { sed -n "s/^\([0-9]*\) $2\$/\1/p" "$tmp/$1.out" | head -n 1; }
span() {
	local a b
	a=$(arrival "$1" "$2") b=$(arrival "$1" "$3")
	[ -n "$a" ] && [ -n "$b" ] && echo $((b - a))
}

# check_sleep NAME: 'sleep 5' in 4.5..5.5 s of host time. Prints the
# failure reason, nothing when it passed.
check_sleep() {
	local us
	us=$(span "$1" SLEEP-BEGIN=1 SLEEP-END=1)
	if [ -z "$us" ]; then
		echo "no SLEEP-BEGIN/END lines: $(why "$1")"
	elif [ "$us" -lt 4500000 ] || [ "$us" -gt 5500000 ]; then
		echo "'sleep 5' took $((us / 1000)) ms of host time"
	fi
}

# check_idle NAME: vireo's CPU time over the guest's 'sleep 6' under 5%.
check_idle() {
	local us t0 t1
	us=$(span "$1" IDLE-BEGIN=1 IDLE-END=1)
	t0=$(value "$1" HOSTCPU_IDLE-BEGIN=1)
	t1=$(value "$1" HOSTCPU_IDLE-END=1)
	if [ -z "$us" ] || [ -z "$t0" ] || [ -z "$t1" ]; then
		echo "no IDLE-BEGIN/END lines: $(why "$1")"
	elif [ $(((t1 - t0) * 1000000 / TICK * 100)) -ge $((us * 5)) ]; then
		local permille=$(((t1 - t0) * 1000000000 / TICK / us))
		echo "vireo used $(((t1 - t0) * 1000 / TICK)) ms of CPU in $((us / 1000)) ms of idle guest ($((permille / 10)).$((permille % 10))%)"
	fi
}

# check_dmesg NAME N: the kernel log between DMESG-BEGIN=N and DMESG-END=N
# has no line that points at the platform. Prints the first such line.
check_dmesg() {
	local log=$tmp/$1.dmesg$2 bad n
	sed -n "/^[0-9]* DMESG-BEGIN=$2\$/,/^[0-9]* DMESG-END=$2\$/p" "$tmp/$1.out" |
		cut -d' ' -f2- >"$log"
	if ! grep -q "^DMESG-END=$2\$" "$log"; then
		echo "no complete kernel log (boot $2): $(why "$1")"
		return
	fi
	if [ "$(grep -c 'Linux version' "$log")" = 0 ]; then
		echo "the kernel log (boot $2) does not start with the banner"
		return
	fi
	bad=$(grep -m1 -iE 'tsc.*unstable|unstable.*tsc|apic.*calibrat|calibration failed|unchecked MSR|WARNING:|Call Trace|BUG:|Oops|general protection|soft lockup|hard LOCKUP|rcu.*stall|clocksource.*unstable|timekeeping watchdog|Machine check|irq [0-9]*: nobody cared|lost [0-9]* interrupt' "$log")
	if [ -n "$bad" ]; then
		echo "boot $2: $bad"
		return
	fi
	n=$(grep -ci spurious "$log")
	if [ "$n" -gt 2 ]; then
		echo "boot $2: $n 'spurious' lines, first: $(grep -m1 -i spurious "$log")"
	fi
}

# --- Boot A ---
TOKEN=$RANDOM$RANDOM
# The tty echoes what is typed; only the shell makes 42 of $((6 * 7)).
STDIN_LINE="echo STDIN-\$((6 * 7))-$TOKEN; exit"
if [ "$SAN" = 1 ]; then
	launch a san --cpus 1 --memory 256M
else
	launch a full --cpus 2 --memory 256M
fi

# linux_stdin_shell
if [ -z "$(value a STDIN_READY)" ]; then
	fail linux_stdin_shell "the guest never got to read stdin: $(why a)"
elif ! grep -q "^[0-9]* STDIN-42-$TOKEN\$" "$tmp/a.out"; then
	fail linux_stdin_shell "no 'STDIN-42-$TOKEN' line after typing '$STDIN_LINE' (console: $(sed -n "/STDIN_READY=1/,\$p" "$tmp/a.out" | sed -n 2,4p | cut -d' ' -f2- | tr '\n' '|' | cut -c1-200))"
elif [ -z "$(value a STDIN_DONE)" ]; then
	fail linux_stdin_shell "the shell did not exit on 'exit'"
else
	ok linux_stdin_shell
fi

# linux_dmesg_clean: the first boot's log, and the second's in the full pass.
r=$(check_dmesg a 1)
if [ -z "$r" ] && [ "$SAN" != 1 ] && [ -n "$(value a SECOND_BOOT)" ]; then
	r=$(check_dmesg a 2)
fi
if [ -n "$r" ]; then fail linux_dmesg_clean "$r"; else ok linux_dmesg_clean; fi

# linux_userspace_busybox: the same workload on the host's busybox.
mkdir -p "$tmp/w" "$tmp/bb"
/bin/busybox --install -s "$tmp/bb"
(cd "$tmp/w" && W=$tmp/w PATH=$tmp/bb /bin/busybox sh -c "$WORKLOAD") >"$tmp/host.uw" 2>"$tmp/host.uw.err"
bad=
n=0
while IFS='=' read -r k want; do
	n=$((n + 1))
	got=$(value a "$k")
	[ -n "$want" ] || bad="$bad $k: nothing from the host's busybox;"
	[ "$got" = "$want" ] || bad="$bad $k: guest '$got', host '$want';"
done <"$tmp/host.uw"
if [ "$n" -lt 11 ]; then
	fail linux_userspace_busybox "the host's busybox printed $n results: $(head -c 200 "$tmp/host.uw.err")"
elif [ -n "$bad" ]; then
	fail linux_userspace_busybox "$(echo "$bad" | cut -c1-400)"
else
	ok linux_userspace_busybox
fi

if [ "$SAN" = 1 ]; then
	for n in $CASES_FULL; do echo "skip $n: one short boot only in the sanitizer pass (and no timing there)"; done
	exit 0
fi

# linux_serial_1mib: the bytes between the marker lines, with the tty's
# ONLCR undone (one \r before each \n; the stream has no \r of its own),
# are the stream the same awk makes on the host, byte for byte.
(cd "$tmp" && PATH=$tmp/bb /bin/busybox sh -c "$STREAM_GEN") >"$tmp/stream.host"
sed -n '/^STREAM-BEGIN=1\r$/,/^STREAM-END=1\r$/p' "$tmp/a.raw" | sed '1d;$d' |
	sed 's/\r$//' >"$tmp/stream.got"
got_size=$(stat -c %s "$tmp/stream.got")
stream_ms=$(( $(span a STREAM-BEGIN=1 STREAM-END=1 || echo 0) / 1000 ))
if [ "$(stat -c %s "$tmp/stream.host")" != 1048576 ]; then
	fail linux_serial_1mib "the host's stream is $(stat -c %s "$tmp/stream.host") bytes, not 1 MiB"
elif [ -z "$(value a STREAM_MD5)" ]; then
	fail linux_serial_1mib "the guest did not get to the stream: $(why a)"
elif [ "$(value a STREAM_MD5)" != "$(md5 <"$tmp/stream.host")" ]; then
	fail linux_serial_1mib "the guest generated a different stream (md5 $(value a STREAM_MD5))"
elif ! cmp -s "$tmp/stream.host" "$tmp/stream.got"; then
	fail linux_serial_1mib "$got_size bytes arrived, $(cmp "$tmp/stream.host" "$tmp/stream.got" 2>&1 | head -n 1)"
else
	echo "# 1 MiB over ttyS0 in $stream_ms ms"
	ok linux_serial_1mib
fi

# linux_reboot: the init marker twice, the second boot found the mark the
# first wrote, and powered off (exit 0).
ups=$(grep -c '^[0-9]* VIREO-GUEST-UP ' "$tmp/a.out")
if [ -z "$(value a REBOOTING)" ]; then
	fail linux_reboot "the first boot did not get to reboot -f: $(why a)"
elif [ -n "$(value a REBOOT_FAILED)" ]; then
	fail linux_reboot "reboot -f returned and the guest kept running"
elif [ "$ups" != 2 ]; then
	fail linux_reboot "$ups init markers, expected 2: $(why a)"
elif [ -z "$(value a SECOND_BOOT)" ]; then
	fail linux_reboot "the second boot did not see the first boot's mark on vdb: $(why a)"
elif [ "$(cat "$tmp/a.rc")" != 0 ]; then
	fail linux_reboot "the second boot did not power off: $(why a)"
else
	ok linux_reboot
fi

# linux_sleep_time and linux_idle_cpu, measured again on a short boot if
# they fail: one slow console line on a busy host must not decide.
rs=$(check_sleep a) ri=$(check_idle a)
echo "# sleep 5: $(($(span a SLEEP-BEGIN=1 SLEEP-END=1 || echo 0) / 1000)) ms; idle: $(( ($(value a HOSTCPU_IDLE-END=1) - $(value a HOSTCPU_IDLE-BEGIN=1)) * 1000 / TICK )) ms CPU in $(($(span a IDLE-BEGIN=1 IDLE-END=1 || echo 0) / 1000)) ms"
if [ -n "$rs" ] || [ -n "$ri" ]; then
	launch r timing --cpus 2 --memory 256M
	[ -z "$rs" ] || rs=$(check_sleep r | sed "s/\$/ (first try: $rs)/")
	[ -z "$ri" ] || ri=$(check_idle r | sed "s/\$/ (first try: $ri)/")
fi
if [ -n "$rs" ]; then fail linux_sleep_time "$rs"; else ok linux_sleep_time; fi
if [ -n "$ri" ]; then fail linux_idle_cpu "$ri"; else ok linux_idle_cpu; fi
