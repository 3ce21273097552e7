#!/usr/bin/env python3
"""A minimal GDB remote-protocol client for tests/integration/gdb.sh: the
cases gdb itself cannot script (Ctrl-C, bad checksums, escapes, detach, kill).
Usage: gdb_rsp.py PORT SCENARIO SYMBOLS... (NAME=HEXADDR); prints one
"ok"/"not ok" line per check."""
import socket
import sys
import time


class Rsp:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.ack = True

    def _byte(self):
        while not self.buf:
            d = self.s.recv(4096)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        c, self.buf = self.buf[:1], self.buf[1:]
        return c

    def raw(self, data):
        self.s.sendall(data)

    @staticmethod
    def frame(payload):
        esc = b""
        for b in payload:
            if b in b"$#}*":
                esc += bytes([0x7D, b ^ 0x20])
            else:
                esc += bytes([b])
        return b"$" + esc + b"#%02x" % (sum(esc) & 0xFF)

    def recv_packet(self):
        while self._byte() != b"$":
            pass
        data = b""
        while True:
            c = self._byte()
            if c == b"#":
                break
            data += c
        csum = self._byte() + self._byte()
        if int(csum, 16) != sum(data) & 0xFF:
            raise ValueError("bad checksum from stub")
        if self.ack:
            self.raw(b"+")
        out, i = b"", 0
        while i < len(data):
            if data[i] == 0x7D:
                out += bytes([data[i + 1] ^ 0x20])
                i += 2
            else:
                out += data[i:i + 1]
                i += 1
        return out

    def send(self, payload, expect_ack=True):
        if isinstance(payload, str):
            payload = payload.encode()
        self.raw(self.frame(payload))
        if self.ack and expect_ack:
            c = self._byte()
            if c != b"+":
                raise ValueError("expected ack, got %r" % c)

    def cmd(self, payload):
        self.send(payload)
        return self.recv_packet()


results = []


def check(name, cond, why=""):
    results.append(name)
    print(("ok %s" % name) if cond else ("not ok %s: %s" % (name, why)), flush=True)


def rip_of(regs_hex):
    return int.from_bytes(bytes.fromhex(regs_hex[16 * 16:17 * 16]), "little")


def main():
    port = int(sys.argv[1])
    scenario = sys.argv[2]
    sym = {k: int(v, 16) for k, v in (a.split("=") for a in sys.argv[3:])}
    r = Rsp(port)
    if scenario == "interrupt":
        # Framing: a corrupted checksum is refused with '-'.
        r.raw(b"$qC#00")
        c = r._byte()
        check("rsp_bad_checksum_nak", c == b"-", "got %r" % c)
        sup = r.cmd("qSupported:multiprocess+;swbreak+;hwbreak+").decode()
        check("rsp_qsupported", "qXfer:features:read+" in sup and "PacketSize=" in sup, sup)
        ok = r.cmd("QStartNoAckMode")
        r.ack = False
        check("rsp_no_ack_mode", ok == b"OK", ok)
        xml = b""
        while True:
            part = r.cmd("qXfer:features:read:target.xml:%x,200" % len(xml))
            xml += part[1:]
            if part[:1] != b"m":
                break
        check("rsp_target_xml", b"<architecture>i386:x86-64</architecture>" in xml
              and b'name="efer"' in xml, xml[:80])
        regs = r.cmd("g").decode()
        check("rsp_g_size", len(regs) == 1200, "g has %d hex digits" % len(regs))
        r.send("c")
        time.sleep(0.5)
        r.raw(b"\x03")
        stop = r.recv_packet().decode()
        check("rsp_ctrl_c_stops", stop.startswith("T02") and "thread:1;" in stop, stop)
        rip = rip_of(r.cmd("g").decode())
        check("rsp_ctrl_c_rip_in_loop", sym["gdb_loop"] <= rip < sym["gdb_after"],
              "rip 0x%x" % rip)
        # X: binary write of '#' (0x23), which must travel escaped.
        ok = r.cmd(b"X%x,1:#" % sym["gdb_patch"])
        mem = r.cmd("m%x,1" % sym["gdb_patch"])
        check("rsp_binary_write", ok == b"OK" and mem == b"23", "%r %r" % (ok, mem))
        ok = r.cmd("P0=2a00000000000000")
        check("rsp_write_rax", ok == b"OK", ok)
        r.send("vCont;c")
        stop = r.recv_packet().decode()
        # 0x2a + 0x23 = 0x4d; isa-debug-exit makes that (0x4d << 1) | 1.
        check("rsp_exit_reported", stop == "W9b", stop)
    elif scenario == "detach":
        r.cmd("qSupported")
        stop = r.cmd("?").decode()
        check("rsp_attach_stops_running_guest", stop.startswith("T05"), stop)
        rip = rip_of(r.cmd("g").decode())
        check("rsp_attach_rip_in_loop", sym["gdb_loop"] <= rip < sym["gdb_after"],
              "rip 0x%x" % rip)
        bad = r.cmd("m123456789000,4")
        check("rsp_unmapped_read_error", bad == b"E0e", bad)
        r.cmd("Z0,%x,1" % sym["gdb_loop"])
        # Registers as of the stop: RAX = 1 lets the loop end once resumed.
        ok = r.cmd("P0=0100000000000000")
        ok2 = r.cmd("D")
        check("rsp_detach", ok == b"OK" and ok2 == b"OK", "%r %r" % (ok, ok2))
    elif scenario == "kill":
        r.cmd("qSupported")
        r.send("k", expect_ack=True)
        check("rsp_kill_sent", True)
    elif scenario == "linux_running":
        linux_running(r)
    else:
        print("not ok gdb_rsp: unknown scenario %s" % scenario)


def reg(r, thread, num):
    r.cmd("Hg%x" % thread)
    return int.from_bytes(bytes.fromhex(r.cmd("p%x" % num).decode()), "little")


def linux_running(r):
    """A booting Linux kernel (2 vCPUs): interrupt it until a vCPU is in the
    kernel's own text, put a software breakpoint where it was (loops and
    idle code run again soon), continue until it is hit, then step."""
    r.cmd("qSupported:swbreak+")
    r.cmd("?")
    r.s.settimeout(60)
    for _ in range(12):
        r.send("c")
        time.sleep(4)
        r.raw(b"\x03")
        r.recv_packet()
        rip = reg(r, 1, 16)
        if rip < 0xffffffff80000000:
            continue
        r.cmd("Z0,%x,1" % rip)
        r.send("c")
        stop = r.recv_packet().decode()
        thread = int(stop.split("thread:")[1].split(";")[0], 16) if "thread:" in stop else 1
        hit = reg(r, thread, 16)
        check("rsp_linux_sw_breakpoint", "swbreak" in stop and hit == rip,
              "stop %s at 0x%x, breakpoint at 0x%x" % (stop, hit, rip))
        r.cmd("z0,%x,1" % rip)
        r.cmd("Hc%x" % thread)
        r.send("s")
        stop = r.recv_packet().decode()
        after = reg(r, thread, 16)
        check("rsp_linux_step", stop.startswith("T05") and after != rip and
              after >= 0xffffffff80000000, "stop %s at 0x%x" % (stop, after))
        r.send("k")
        return
    check("rsp_linux_sw_breakpoint", False, "never stopped in the kernel's text")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a dead stub must fail the test, not hang it
        print("not ok gdb_rsp_%s: %s: %s" % (sys.argv[2], type(e).__name__, e))
