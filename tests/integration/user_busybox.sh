#!/usr/bin/env bash
# vireo-user end to end: Debian's static busybox applets and small static C
# programs run under vireo-user must give byte-identical output and the same
# exit status as the same binaries run natively; bad input gets one clear
# line. A case whose emulated run stops on an instruction the CPU does not
# implement yet (#UD) is reported as skip, naming the instruction.
set -u
cd "$(dirname "$0")/../.."
B=${VIREO_BUILD:-$PWD/build}
VU=$B/vireo-user
BB=/bin/busybox
tmp=$(mktemp -d /tmp/vireo-user-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if [ ! -x "$VU" ]; then
	echo "not ok user_busybox: $VU not built"
	exit 0
fi

# skip reason for an emulated run that died on #UD: "cpu lacks: INSN at RIP"
ud_reason() { # stderr file
	local line path rip insn
	line=$(grep -m1 -E 'invalid opcode \(#UD\) at rip 0x[0-9a-f]+' "$1") || return 1
	path=$(echo "$line" | sed -E 's/^vireo-user: ([^:]+): .*/\1/')
	rip=$(echo "$line" | sed -E 's/.*at rip (0x[0-9a-f]+).*/\1/')
	insn=$(objdump -d --start-address="$rip" --stop-address=$((rip + 16)) "$path" 2>/dev/null |
		awk -F'\t' '/^ *[0-9a-f]+:/ { print $3; exit }' | tr -s ' ')
	echo "cpu lacks: ${insn:-?} at $rip"
}

# run_cmp NAME DIR CMD... : run CMD natively and under vireo-user in DIR
# (fresh copies of it), compare stdout, exit status and the files left.
run_cmp() {
	local name=$1 dir=$2; shift 2
	local n=$tmp/$name.native e=$tmp/$name.emu
	rm -rf "$n" "$e"
	cp -a "$dir" "$n"; cp -a "$dir" "$e"
	(cd "$n" && "$@" >../$name.nout 2>../$name.nerr); local nrc=$?
	local t0=$SECONDS
	(cd "$e" && "$VU" "$@" >../$name.eout 2>../$name.eerr); local erc=$?
	echo "# $name: $((SECONDS - t0)) s under vireo-user"
	local why
	if why=$(ud_reason "$tmp/$name.eerr"); then
		echo "skip $name: $why"
		return
	fi
	if [ "$nrc" != "$erc" ]; then
		echo "not ok $name: exit status $erc, native $nrc; stderr: $(head -c 300 "$tmp/$name.eerr")"
		return
	fi
	if ! cmp -s "$tmp/$name.nout" "$tmp/$name.eout"; then
		echo "not ok $name: stdout differs: $(diff "$tmp/$name.nout" "$tmp/$name.eout" | head -5 | tr '\n' '|')"
		return
	fi
	if ! diff -r "$n" "$e" >/dev/null; then
		echo "not ok $name: files differ: $(diff -r "$n" "$e" 2>&1 | head -3 | tr '\n' '|')"
		return
	fi
	if [ ! -s "$tmp/$name.nout" ] && [ "${ALLOW_EMPTY:-0}" != 1 ]; then
		echo "not ok $name: no output to compare"
		return
	fi
	echo "ok $name"
}

# Inputs: deterministic data so both runs read the same bytes.
w=$tmp/work
mkdir -p "$w/tree/sub"
size=$((128 * 1024))
[ "${VIREO_SANITIZED:-0}" = 1 ] && size=$((64 * 1024))
head -c $size /dev/urandom >"$w/random.bin"
nlines=3000
[ "${VIREO_SANITIZED:-0}" = 1 ] && nlines=1000
"$BB" seq 1 $nlines | "$BB" awk '{ printf "%d line-%05d %s\n", ($1 * 7919) % 1009, $1, ($1 % 3 ? "x" : "yy") }' >"$w/lines.txt"
echo "alpha beta gamma" >"$w/tree/a.txt"
printf 'one\ntwo\n' >"$w/tree/sub/b.txt"
cat >"$w/script.sh" <<'EOF'
i=0; sum=0
while [ $i -lt 200 ]; do sum=$((sum + i * i)); i=$((i + 1)); done
echo "sum $sum"
for w in alpha beta gamma; do printf '%s:%d\n' "$w" "${#w}"; done
n=$(echo "a b c d" | wc -w); echo "words $n"
f() { echo "f got $# args: $*"; return 3; }
f x "y z"; echo "status $?"
case "$(uname -m)" in x86_64) echo machine ok;; *) echo machine bad;; esac
seq 1 50 | grep 7 | tr '\n' ' '; echo
cat lines.txt | sort -n | head -3
echo "$(basename /a/b/c.txt .txt) $(dirname /a/b/c.txt)"
x=$(printf 'abc' | md5sum); echo "${x%% *}"
while read -r a b; do echo "[$b|$a]"; done <<E2
1 one
2 two
E2
(exit 5); echo "subshell $?"
echo done >out.txt; cat out.txt
EOF
# More applets and the system calls under them: files and links, times,
# modes, signals (trap, SIGPIPE), jobs, redirections, re-exec through
# /proc/self/exe (timeout, env), vfork.
cat >"$w/applets.sh" <<'EOF'
find tree | sort; stat -c '%n %s %F' tree/a.txt tree
cp tree/a.txt c.txt && mv c.txt d.txt && cat d.txt && rm d.txt && ls
touch -d '2020-01-02 03:04:05' t && stat -c %Y t
ln -s tree/a.txt l && readlink l && cat l && rm l t
chmod 640 lines.txt && stat -c %a lines.txt
umask 027; mkdir m; stat -c %a m; rmdir m
dd if=lines.txt bs=100 count=3 2>/dev/null | wc -c
timeout 2 sleep 0.1; echo "timeout $?"
env -i A=1 B=2 env | sort
trap 'echo got USR1' USR1; kill -USR1 $$; echo after trap
yes | head -n 2; echo "pipe ${PIPESTATUS:-done}"
(sleep 0.1; echo background) & wait $!; echo "waited $?"
exec 3>fd3.txt; echo via fd 3 >&3; exec 3>&-; cat fd3.txt
cut -d' ' -f2 lines.txt | head -3; od -An -tx1 tree/a.txt; echo abc | hexdump -C
expr 6 \* 7; printf '%5.2f|%x|%s|%c\n' 3.14159 255 str 65
seq -s, 1 10; uniq -c tree/sub/b.txt; echo hello | bzip2 -c | bzip2 -dc
uname -m; id -u; test -d tree && echo isdir; [ 3 -lt 4 ] && echo lt
sh -c 'exit 7'; echo "child $?"; /proc/self/exe echo via proc self exe
EOF
cat >"$w/prog.awk" <<'EOF'
# (no pipes to commands: popen runs /bin/sh, which is dash and dynamic here)
{ count[$3]++; total += $1; t = $2; gsub(/-0*/, ":", t); if (NR % 500 == 0) print toupper(t), length($0), substr($2, 3, 4), sprintf("%08.2f", $1 / 7) }
END { n = split("x yy", ks, " "); for (i = 1; i <= n; i++) print ks[i], count[ks[i]]
	printf "total %d avg %.3f ratio %g %e\n", total, total / NR, total / 7, NR / 3 }
EOF

run_cmp user_bb_sh "$w" "$BB" sh script.sh
run_cmp user_bb_applets "$w" "$BB" sh applets.sh
# The guest's /proc/self/maps: its own ranges, not vireo-user's.
"$VU" "$BB" cat /proc/self/maps >"$tmp/maps" 2>&1
if grep -q "$(readlink -f "$BB")" "$tmp/maps" && grep -q '\[stack\]' "$tmp/maps" &&
   ! grep -q 'vireo-user' "$tmp/maps"; then
	echo "ok user_proc_self_maps"
else
	echo "not ok user_proc_self_maps: $(head -c 300 "$tmp/maps" | tr '\n' '|')"
fi
run_cmp user_bb_md5sum "$w" "$BB" md5sum random.bin lines.txt
run_cmp user_bb_sha256sum "$w" "$BB" sha256sum random.bin lines.txt
run_cmp user_bb_gzip "$w" "$BB" sh -c 'gzip -9 -c random.bin >r.gz && gzip -6 -c lines.txt >l.gz && md5sum r.gz l.gz'
run_cmp user_bb_gunzip "$w" "$BB" sh -c 'gzip -c lines.txt | gunzip -c | cmp - lines.txt && gzip -c random.bin >r.gz && gunzip r.gz && md5sum r'
run_cmp user_bb_sort "$w" "$BB" sort -k1,1n -k2,2r lines.txt
run_cmp user_bb_awk "$w" "$BB" awk -f prog.awk lines.txt
run_cmp user_bb_sed "$w" "$BB" sed -e 's/line-\([0-9]*\)/L\1/' -e '/yy$/d' -e '5,9p' -e '/^1[0-9]* /s/x$/X/' lines.txt
run_cmp user_bb_tar "$w" "$BB" sh -c 'tar cf t.tar tree && tar tvf t.tar | sed "s/ [0-9-]* [0-9:]* / DATE /" && mkdir x && tar xf t.tar -C x && cat x/tree/a.txt x/tree/sub/b.txt'

# Dynamically linked Debian programs: the ELF interpreter (ld.so) is loaded
# as Linux's binfmt_elf does, and glibc's x86-64 ISA-level check must pass.
run_cmp user_dyn_coreutils "$w" /bin/sh -c 'sha256sum random.bin lines.txt; sort -k1,1n -k2,2r lines.txt | md5sum; ls -l tree | sed "s/ [A-Z][a-z][a-z] .* / DATE /"; wc lines.txt'
run_cmp user_dyn_bash "$w" /bin/bash -c 'declare -A m=([a]=1 [b]=2); echo ${#m[@]} $((m[a] + m[b])); printf "%s\n" "${BASH_VERSINFO[0]}"; gzip -9 -c random.bin | gzip -dc | cmp - random.bin && echo gzip-ok'

# Static C programs built here: glibc start-up, stdio, the x87/SSE users
# (printf of doubles), qsort, malloc churn, file I/O.
if command -v gcc >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/libc.a ]; then
	c=$tmp/c
	mkdir -p "$c"
	cat >"$c/prog.c" <<'EOF'
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int cmp(const void *a, const void *b) { long x = *(const long *)a, y = *(const long *)b; return (x > y) - (x < y); }
int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int n = argc > 2 ? atoi(argv[2]) : 100000;
	if (!strcmp(mode, "float")) {
		double x = 1.0 / 3.0, s = 0;
		for (int i = 1; i <= 1000; i++) s += 1.0 / ((double)i * i);
		printf("%.17g %g %e %.3f %a\n", x, s, 6.02214076e23, sqrt(2.0), 0.1);
		printf("%f %Lg %.10f\n", (float)x * 3.0f, (long double)x / 7, sin(1.0) + exp(0.5));
	} else if (!strcmp(mode, "qsort")) {
		long *v = malloc((size_t)n * sizeof(*v)), h = 0;
		unsigned s = 12345;
		for (int i = 0; i < n; i++) { s = s * 1103515245 + 12345; v[i] = s >> 4; }
		qsort(v, (size_t)n, sizeof(*v), cmp);
		for (int i = 0; i < n; i++) h = h * 31 + v[i];
		printf("%ld %ld %ld\n", v[0], v[n - 1], h);
		free(v);
	} else if (!strcmp(mode, "malloc")) {
		void *slot[512] = { 0 };
		unsigned s = 1;
		size_t total = 0;
		for (int i = 0; i < n / 2; i++) {
			s = s * 1664525 + 1013904223;
			int k = (int)(s >> 23) & 511;
			free(slot[k]);
			size_t n = (s & 0xff) == 0 ? 200000 + (s >> 12) % 300000 : (s >> 8) % 2048;
			slot[k] = malloc(n);
			memset(slot[k], i, n);
			total += n;
		}
		for (int k = 0; k < 512; k++) free(slot[k]);
		printf("allocated %zu\n", total);
	} else if (!strcmp(mode, "file")) {
		FILE *f = fopen("data.txt", "w");
		for (int i = 0; i < 10000; i++) fprintf(f, "%d %x\n", i, i * i);
		fclose(f);
		f = fopen("data.txt", "r");
		long sum = 0; int a; unsigned b;
		while (fscanf(f, "%d %x", &a, &b) == 2) sum += a + b;
		fclose(f);
		remove("data.txt");
		printf("sum %ld\n", sum);
		if (fopen("/nonexistent/x", "r") == NULL) perror("open");
	}
	return 0;
}
EOF
	if gcc -static -O2 -o "$c/prog" "$c/prog.c" -lm 2>"$c/cc.err"; then
		cn=100000
		[ "${VIREO_SANITIZED:-0}" = 1 ] && cn=20000
		for m in float qsort malloc file; do
			run_cmp "user_c_$m" "$c" ./prog "$m" "$cn"
		done
		if gcc -static-pie -O2 -o "$c/prog-pie" "$c/prog.c" -lm 2>"$c/cc.err"; then
			run_cmp user_c_static_pie "$c" ./prog-pie float
		else
			echo "skip user_c_static_pie: gcc -static-pie failed: $(head -c 200 "$c/cc.err")"
		fi
	else
		echo "skip user_c_programs: gcc -static failed: $(head -c 200 "$c/cc.err")"
	fi
	# Signals through glibc: a SIGSEGV handler leaving by siglongjmp, the
	# alternate stack, SA_RESETHAND, blocking and sigpending, SIGCHLD,
	# alarm+pause, SIGPIPE ignored then fatal.
	cat >"$c/sig.c" <<'EOF'
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static sigjmp_buf jb;
static volatile sig_atomic_t got, chld, alrm;
static char altstack[65536];
static void on_segv(int sig, siginfo_t *si, void *uc) { (void)uc; got = sig; siglongjmp(jb, si->si_addr == (void *)8 ? 1 : 2); }
static void on_usr1(int sig) { int x; got = sig; printf("usr1 on altstack %d\n", (char *)&x >= altstack && (char *)&x < altstack + sizeof(altstack)); }
static void on_chld(int sig) { (void)sig; chld++; }
static void on_alrm(int sig) { (void)sig; alrm++; }
int main(void)
{
	struct sigaction sa;
	sigset_t set, old, pend;
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv; sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	if (sigsetjmp(jb, 1) == 0) { *(volatile int *)8 = 1; puts("no fault?"); }
	printf("segv caught %d\n", got);
	if (sigsetjmp(jb, 1) == 0) { *(volatile int *)8 = 2; }
	printf("segv twice %d\n", got);
	sigaltstack(&ss, NULL);
	sa.sa_handler = on_usr1; sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	sigaction(SIGUSR1, NULL, &sa);
	printf("resethand -> default %d\n", sa.sa_handler == SIG_DFL);
	sigemptyset(&set); sigaddset(&set, SIGUSR2);
	signal(SIGUSR2, on_usr1);
	sigprocmask(SIG_BLOCK, &set, &old);
	raise(SIGUSR2); got = 0;
	sigpending(&pend);
	printf("pending %d got %d\n", sigismember(&pend, SIGUSR2), got);
	sigprocmask(SIG_SETMASK, &old, NULL);
	printf("after unblock got %d\n", got);
	signal(SIGCHLD, on_chld);
	pid_t p = fork();
	if (!p) _exit(9);
	int st; while (waitpid(p, &st, 0) < 0) ;
	printf("child status %d chld %d\n", WEXITSTATUS(st), chld);
	signal(SIGALRM, on_alrm);
	alarm(1); pause();
	printf("alarm %d\n", alrm);
	signal(SIGPIPE, SIG_IGN);
	int fds[2]; pipe(fds); close(fds[0]);
	printf("epipe %d\n", write(fds[1], "x", 1) < 0);
	fflush(stdout);
	signal(SIGPIPE, SIG_DFL);
	write(fds[1], "x", 1);
	puts("not reached");
	return 0;
}
EOF
	if gcc -static -O2 -o "$c/sig" "$c/sig.c" 2>"$c/cc.err"; then
		run_cmp user_c_signals "$c" ./sig
	else
		echo "skip user_c_signals: gcc failed: $(head -c 200 "$c/cc.err")"
	fi
	# INT3: SIGTRAP with SI_KERNEL and RIP after the instruction.
	cat >"$c/trap.c" <<'EOF'
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>
extern char after_int3[];
static void on_trap(int sig, siginfo_t *si, void *p)
{
	ucontext_t *uc = p;
	printf("sig %d code %d rip-after %ld\n", sig, si->si_code, (long)((char *)uc->uc_mcontext.gregs[REG_RIP] - after_int3));
}
int main(void)
{
	struct sigaction sa = { .sa_sigaction = on_trap, .sa_flags = SA_SIGINFO };
	sigaction(SIGTRAP, &sa, NULL);
	__asm__ volatile("int3\n.globl after_int3\nafter_int3:\n");
	puts("resumed");
	return 0;
}
EOF
	if gcc -static -O2 -o "$c/trap" "$c/trap.c" 2>"$c/cc.err"; then
		run_cmp user_c_sigtrap "$c" ./trap
	else
		echo "skip user_c_sigtrap: gcc failed: $(head -c 200 "$c/cc.err")"
	fi
	# Code written at run time: by stores, by read(2) into an executable page,
	# across mprotect, and into a fresh MAP_FIXED mapping at the same place.
	cat >"$c/jit.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void)
{
	unsigned char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int (*f)(void) = (int (*)(void))m;
	int fds[2];
	memcpy(m, "\xb8\x2a\x00\x00\x00\xc3", 6);
	printf("%d\n", f());
	m[1] = 43;
	printf("%d\n", f());
	pipe(fds);
	write(fds[1], "\xb8\x2c\x00\x00\x00\xc3", 6);
	read(fds[0], m, 6);
	printf("%d\n", f());
	mprotect(m, 8192, PROT_READ | PROT_WRITE);
	m[1] = 45;
	mprotect(m, 8192, PROT_READ | PROT_EXEC);
	printf("%d\n", f());
	munmap(m, 8192);
	m = mmap(m, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	memcpy(m, "\xb8\x2e\x00\x00\x00\xc3", 6);
	printf("%d\n", f());
	return 0;
}
EOF
	if gcc -static -O2 -o "$c/jit" "$c/jit.c" 2>"$c/cc.err"; then
		run_cmp user_c_selfmodifying "$c" ./jit
	else
		echo "skip user_c_selfmodifying: gcc failed: $(head -c 200 "$c/cc.err")"
	fi
	# No libc at all: start-up stack, raw system calls, CPU exceptions as signals.
	cat >"$c/nolibc.c" <<'EOF'
typedef unsigned long u64;
static long sc(long n, long a, long b, long c, long d, long e, long f)
{
	long r;
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
	return r;
}
static u64 slen(const char *s) { u64 n = 0; while (s[n]) n++; return n; }
static void puts_(const char *s) { sc(1, 1, (long)s, (long)slen(s), 0, 0, 0); }
static void putu(u64 v) { char b[24]; int i = 23; b[i] = 0; do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v); puts_(b + i); }
static int streq(const char *a, const char *b) { while (*a && *a == *b) a++, b++; return *a == *b; }
static int streq_n(const char *a, const char *b, int n) { while (n && *a == *b) a++, b++, n--; return !n; }
void restorer(void);
__asm__(".text\nrestorer: mov $15, %eax\nsyscall\nhlt\n");
static void on_segv(int sig, void *info, void *uc)
{
	(void)uc;
	puts_("caught signal "); putu((u64)sig); puts_(" addr "); putu(*(u64 *)((char *)info + 16)); puts_("\n");
	sc(231, 7, 0, 0, 0, 0, 0);
}
void cmain(u64 *sp);
void cmain(u64 *sp)
{
	u64 argc = sp[0], i;
	char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
	u64 *aux;
	const char *mode = argc > 1 ? argv[1] : "";

	puts_("argc "); putu(argc); puts_(" aligned "); putu(((u64)sp & 15) == 0); puts_("\n");
	for (i = 0; i < argc; i++) { puts_("argv: "); puts_(argv[i]); puts_("\n"); }
	while (*envp) envp++;
	for (aux = (u64 *)(envp + 1); aux[0]; aux += 2) {
		if (aux[0] == 6) { puts_("pagesz "); putu(aux[1]); puts_("\n"); }
		if (aux[0] == 25) { puts_("random ok "); putu(aux[1] != 0); puts_("\n"); }
		if (aux[0] == 15) { puts_("platform "); puts_((char *)aux[1]); puts_("\n"); }
	}
	if (streq(mode, "segv")) { *(volatile int *)16 = 1; }
	if (streq(mode, "div0")) { volatile u64 z = 0; putu(5 / z); }
	if (streq(mode, "enosys")) {
		long e1 = sc(400, 0, 0, 0, 0, 0, 0), e2 = sc(400, 1, 0, 0, 0, 0, 0);
		puts_("enosys "); putu((u64)-e1); puts_(" "); putu((u64)-e2); puts_("\n");
	}
	if (streq(mode, "isolation")) {
		/* Find vireo-user's own code in the host's maps (vireo-user
		 * shows the guest its own /proc/self/maps, not this one) and
		 * try to leak it through write(2), then to read it directly. */
		static char maps[65536];
		long fd = sc(2, (long)"/proc/thread-self/maps", 0, 0, 0, 0, 0), n = 0, r;
		u64 addr = 0;
		char *l;
		while ((r = sc(0, fd, (long)maps + n, (long)sizeof(maps) - 1 - n, 0, 0, 0)) > 0) n += r;
		maps[n] = 0;
		for (l = maps; *l; ) {
			char *e = l; while (*e && *e != '\n') e++;
			/* The line of a file whose name is exactly "vireo-user". */
			char *q;
			if (e - l > 11 && e[-11] == '/' && streq_n(e - 10, "vireo-user", 10)) {
				for (q = l; *q != '-'; q++)
					addr = addr * 16 + (u64)(*q <= '9' ? *q - '0' : *q - 'a' + 10);
				break;
			}
			l = *e ? e + 1 : e;
		}
		puts_("emulator found "); putu(addr != 0); puts_("\n");
		puts_("write errno "); putu((u64)-sc(1, 1, (long)addr, 8, 0, 0, 0)); puts_("\n");
		puts_("read: "); putu(*(volatile unsigned char *)addr); puts_("\n");
	}
	if (streq(mode, "handler")) {
		u64 act[4] = { (u64)on_segv, 0x04000000 | 4 /* SA_SIGINFO */, (u64)restorer, 0 };
		sc(13, 11, (long)act, 0, 8, 0, 0);
		*(volatile int *)4096 = 1;
	}
	{
		u64 b0 = (u64)sc(12, 0, 0, 0, 0, 0, 0), b1 = (u64)sc(12, (long)(b0 + 100000), 0, 0, 0, 0, 0);
		char *m = (char *)sc(9, 0, 1 << 20, 3, 0x22, -1, 0);
		((char *)b0)[99999] = 1; m[(1 << 20) - 1] = 2;
		puts_("brk grew "); putu(b1 - b0); puts_(" mmap ok "); putu(m[(1 << 20) - 1] == 2); puts_("\n");
		puts_("efault "); putu((u64)-sc(1, 1, 8, 10, 0, 0, 0)); puts_("\n");
	}
	sc(231, (long)argc, 0, 0, 0, 0, 0);
}
__asm__(".globl _start\n_start: mov %rsp, %rdi\nand $-16, %rsp\ncall cmain\nhlt\n");
EOF
	if gcc -static -nostdlib -O2 -fno-stack-protector -fcf-protection=none -mgeneral-regs-only \
		-fno-builtin -o "$c/nolibc" "$c/nolibc.c" 2>"$c/cc.err"; then
		run_cmp user_nolibc_start "$c" ./nolibc a "b c" ""
		run_cmp user_nolibc_sighandler "$c" ./nolibc handler
		# An unknown system call: ENOSYS each time, one line on stderr once.
		run_cmp user_nolibc_enosys "$c" ./nolibc enosys
		if [ "$(grep -c 'unsupported system call 400' "$tmp/user_nolibc_enosys.eerr")" != 1 ]; then
			echo "not ok user_enosys_reported_once: $(head -c 300 "$tmp/user_nolibc_enosys.eerr")"
		else
			echo "ok user_enosys_reported_once"
		fi
		# The guest cannot reach the emulator's memory, by system call or load.
		(cd "$c" && "$VU" ./nolibc isolation >"$tmp/iso.out" 2>"$tmp/iso.err"); rc=$?
		if grep -q "emulator found 1" "$tmp/iso.out" && grep -q "write errno 14" "$tmp/iso.out" &&
		   ! grep -q "^read:.*[0-9]" "$tmp/iso.out" && [ "$rc" = 139 ] &&
		   grep -q "page fault" "$tmp/iso.err"; then
			echo "ok user_isolation"
		else
			echo "not ok user_isolation: status $rc: $(tr '\n' '|' <"$tmp/iso.out") $(head -c 200 "$tmp/iso.err")"
		fi
		# Death by signal: same status as native (128 + signal in a shell).
		for m in segv div0; do
			(cd "$c" && ./nolibc $m >/dev/null 2>&1); nrc=$?
			(cd "$c" && "$VU" ./nolibc $m >/dev/null 2>"$tmp/$m.err"); erc=$?
			if [ "$nrc" = "$erc" ] && [ "$(grep -c '^vireo-user: ' "$tmp/$m.err")" = 1 ]; then
				echo "ok user_nolibc_$m"
			else
				echo "not ok user_nolibc_$m: status $erc (native $nrc), stderr: $(head -c 200 "$tmp/$m.err")"
			fi
		done
	else
		echo "skip user_nolibc: gcc failed: $(head -c 200 "$c/cc.err")"
	fi
else
	echo "skip user_c_programs: no gcc or static libc"
fi

# Bad input: one clear line on stderr, exit 1 (usage errors 2).
bad() { # name expected-rc expected-text args...
	local name=$1 want=$2 text=$3; shift 3
	"$VU" "$@" >"$tmp/bad.out" 2>"$tmp/bad.err"; local rc=$?
	if [ "$rc" != "$want" ]; then
		echo "not ok $name: exit $rc, want $want: $(head -c 200 "$tmp/bad.err")"
	elif ! grep -q -- "$text" "$tmp/bad.err"; then
		echo "not ok $name: stderr lacks '$text': $(head -c 200 "$tmp/bad.err")"
	elif [ "$want" = 1 ] && [ "$(wc -l <"$tmp/bad.err")" != 1 ]; then
		echo "not ok $name: want one line, got: $(head -c 200 "$tmp/bad.err")"
	else
		echo "ok $name"
	fi
}
printf '\177ELF\001\001\001\000\000\000\000\000\000\000\000\000\002\000\003\000' >"$tmp/elf32"
head -c 64 /dev/zero >>"$tmp/elf32"
chmod +x "$tmp/elf32"
bad user_bad_missing 1 "No such file" "$tmp/does-not-exist"
bad user_bad_not_elf 1 "not an ELF" "$w/script.sh"
# A dynamic program whose PT_INTERP names a loader that does not exist.
python3 - /bin/true "$tmp/true-noldso" <<'PY2'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
old = b'/lib64/ld-linux-x86-64.so.2'
i = b.index(old)
b[i:i + len(old)] = b'/nonexistent/ld-vireo.so.2'.ljust(len(old), b'\0')
open(sys.argv[2], 'wb').write(b)
PY2
chmod +x "$tmp/true-noldso"
bad user_bad_interp_missing 1 "ld-vireo.so.2: No such file" "$tmp/true-noldso"
bad user_bad_32bit 1 "32-bit" "$tmp/elf32"
bad user_bad_usage 2 "usage" 
bad user_bad_option 2 "unknown option" --frobnicate /bin/busybox
exit 0
