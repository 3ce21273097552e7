# Shared helpers for the tests that boot Debian's kernel with the default
# initramfs (scripts/build-guest.sh) on the emulated CPU: linux_boot.sh,
# linux_virtio.sh. Sourced, not run. The caller sets:
#   V             the vireo binary
#   KERNEL INITRD the guest (INITRD may be the fio variant)
#   BOOT_TIMEOUT  seconds per boot
#   tmp           a scratch directory
#   GUEST_CMD     the shell command the guest's /init runs (vireo.cmd=)
# and optionally BOOT_STDIN (default /dev/null): what vireo reads as the
# console's input.

# boot NAME ARGS...: boots the guest with ARGS and $GUEST_CMD; each console
# line is stored prefixed with the host's time of arrival (seconds, from
# bash's EPOCHREALTIME) in $tmp/NAME.out; stderr in $tmp/NAME.err, the exit
# status in $tmp/NAME.rc.
boot() {
	local name=$1
	shift
	local cmd
	cmd=$(printf '%s' "$GUEST_CMD" | base64 -w0)
	{
		timeout -k 5 "$BOOT_TIMEOUT" "$V" --accel emu --kernel "$KERNEL" --initrd "$INITRD" \
			--cmdline "vireo.cmd=$cmd" "$@" <"${BOOT_STDIN:-/dev/null}" 2>"$tmp/$name.err"
		echo $? >"$tmp/$name.rc"
	} | while IFS= read -r line; do
		printf '%s %s\n' "${EPOCHREALTIME%.*}" "${line%$'\r'}"
	done >"$tmp/$name.out"
}

# value NAME KEY: the rest of the guest's first KEY=... line.
value() {
	sed -n "s/^[0-9]* $2=\(.*\)\$/\1/p" "$tmp/$1.out" | head -n 1
}

# why NAME: a short reason for a failed boot.
why() {
	local rc
	rc=$(cat "$tmp/$1.rc" 2>/dev/null)
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		echo "timed out after ${BOOT_TIMEOUT}s; last console line: $(tail -n 1 "$tmp/$1.out" | cut -c1-160)"
	else
		echo "exit status $rc; stderr: $(head -c 300 "$tmp/$1.err" | tr '\n' ' ')"
	fi
}
