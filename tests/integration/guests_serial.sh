#!/usr/bin/env bash
# Serial input: text piped into vireo's stdin reaches the guest's UART and
# is echoed back, interrupt driven (RX interrupt -> IRQ 4 -> IOAPIC -> LAPIC)
# and polled.
. "$(dirname "$0")/../guests/test-lib.sh"

guests_preflight serial_echo_interrupts serial_echo_polled

# echo_case NAME CMDLINE INPUT: starts the guest on a FIFO, sends INPUT once
# the guest says it is ready, and waits for it to end.
echo_case() {
	local name=$1 cmdline=$2 input=$3 pid i
	rm -f "$tmp/in"
	mkfifo "$tmp/in"
	timeout "$GUEST_TIMEOUT" "$VIREO" --accel "$GUEST_ACCEL" --kernel "$GUESTS/echo.elf" \
		--cmdline "$cmdline" <"$tmp/in" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid=$!
	exec 3>"$tmp/in"
	for i in $(seq 200); do
		grep -aq '^echo: ready' "$tmp/$name.out" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	printf '%s' "$input" >&3
	wait "$pid"
	RC=$?
	exec 3>&-
}

echo_case serial_echo_interrupts "" "hello-vireo 123q"
guest_report serial_echo_interrupts "$PASS_RC" '^echo: ready \(interrupts\)' 'hello-vireo 123' \
	'^echo: 16 chars, [1-9][0-9]* interrupts' '^echo: input arrived by interrupt: ok'

echo_case serial_echo_polled "mode=poll" "polled-input q"
guest_report serial_echo_polled "$PASS_RC" '^echo: ready \(polled\)' 'polled-input ' \
	'^echo: 14 chars'
exit 0
