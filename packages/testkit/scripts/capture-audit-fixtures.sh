#!/usr/bin/env bash
# capture-audit-fixtures.sh — capture real Linux audit records for the audit-record parser.
#
# Runs small workloads under a seccomp SCMP_ACT_LOG filter (and a few temporary audit rules)
# with auditd running, and copies the records the kernel and auditd wrote into
# packages/testkit/fixtures/audit/*.log, byte for byte (auditd ENRICHED format, 0x1d kept).
# Then derives the syslog/journald variants (derive-audit-variants.mjs).
# See packages/testkit/fixtures/audit/README.md for what each file is.
#
# Usage (root, Debian 12, auditd running as configured in /etc/audit/auditd.conf):
#   bash packages/testkit/scripts/capture-audit-fixtures.sh
#
# Idempotent: every run rewrites the same fixture files; temporary audit rules, the runc
# container, the netlink listener and the temp dir are removed on exit. auditd is stopped for
# a few seconds (kernel printk capture) and is always restarted with `auditctl -b 8192` by the
# EXIT trap, even on failure.
set -Eeuo pipefail
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PKG=$(cd "$HERE/.." && pwd)
OUT="$PKG/fixtures/audit"
HELPERS="$HERE/audit-fixture-helpers"
AUDIT_LOG=/var/log/audit/audit.log
BACKLOG=8192
MAX_FIXTURE_BYTES=$((190 * 1024))
GS=$'\x1d'

log() { printf '[capture-audit-fixtures] %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root"

# ---------------------------------------------------------------- prerequisites
ensure_packages() {
	local missing=()
	dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
	dpkg -s gcc-multilib >/dev/null 2>&1 || missing+=(gcc-multilib)
	dpkg -s libseccomp-dev >/dev/null 2>&1 || missing+=(libseccomp-dev)
	dpkg -s libaudit-dev >/dev/null 2>&1 || missing+=(libaudit-dev)
	command -v jq >/dev/null || missing+=(jq)
	command -v runc >/dev/null || missing+=(runc)
	command -v auditctl >/dev/null || missing+=(auditd)
	command -v gcc >/dev/null || missing+=(gcc)
	if ((${#missing[@]})); then
		log "installing: ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	command -v node >/dev/null || die "node is needed for derive-audit-variants.mjs"
	grep -qw log /proc/sys/kernel/seccomp/actions_logged || die "'log' missing from /proc/sys/kernel/seccomp/actions_logged"
}

# ---------------------------------------------------------------- auditd control
auditd_pid() { auditctl -s 2>/dev/null | awk '$1 == "pid" { print $2 }'; }

auditd_running() {
	local pid
	pid=$(auditd_pid)
	[[ -n $pid && $pid != 0 ]] && kill -0 "$pid" 2>/dev/null
}

ensure_auditd() {
	if ! auditd_running; then
		log "starting auditd"
		auditd
		local _
		for _ in $(seq 1 50); do
			auditd_running && break
			sleep 0.2
		done
		auditd_running || log "WARNING: auditd did not come up"
	fi
	auditctl -b "$BACKLOG" >/dev/null
}

stop_auditd() {
	local pid _
	pid=$(auditd_pid)
	auditctl --signal TERM
	for _ in $(seq 1 50); do
		if [[ -z $pid || $pid == 0 ]] || ! kill -0 "$pid" 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	die "auditd (pid $pid) did not stop"
}

# ---------------------------------------------------------------- state + cleanup
WORK=$(mktemp -d /tmp/secprof-audit-fx.XXXXXX)
BIN="$WORK/bin"
RUNC_ROOT="$WORK/runc-state"
START_STAMP="$WORK/start.stamp"
MCAST_PID=""
CONTAINER=""
ADDED_RULES=() # each entry: the auditctl arguments that delete it

cleanup() {
	local rc=$?
	set +e
	if [[ -n $MCAST_PID ]]; then
		kill -TERM "$MCAST_PID" 2>/dev/null
		wait "$MCAST_PID" 2>/dev/null
	fi
	local r
	for r in "${ADDED_RULES[@]}"; do
		# shellcheck disable=SC2086 # the rule is a word list on purpose
		auditctl $r >/dev/null 2>&1
	done
	if [[ -n $CONTAINER ]]; then
		runc --root "$RUNC_ROOT" delete -f "$CONTAINER" >/dev/null 2>&1
	fi
	ensure_auditd
	rm -rf "$WORK"
	if ((rc == 0)); then log "done"; else log "failed (exit $rc); auditd running: $(auditd_running && echo yes || echo no)"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

add_rule() { # add_rule "<auditctl add args>" "<auditctl delete args>" [auid-for-loginuid]
	local add=$1 del=$2 auid=${3:-}
	if [[ -n $auid ]]; then
		# shellcheck disable=SC2086
		as_login "$auid" auditctl $add >/dev/null
	else
		# shellcheck disable=SC2086
		auditctl $add >/dev/null
	fi
	ADDED_RULES+=("$del")
}

del_rules() { # del_rules [auid-for-loginuid]
	local auid=${1:-} r
	for r in "${ADDED_RULES[@]}"; do
		if [[ -n $auid ]]; then
			# shellcheck disable=SC2086
			as_login "$auid" auditctl $r >/dev/null
		else
			# shellcheck disable=SC2086
			auditctl $r >/dev/null
		fi
	done
	ADDED_RULES=()
}

# Run a command with a fresh audit login uid (and therefore a fresh session id): every audit
# record of the command and its children then carries auid=<auid> ses=<new>.
as_login() {
	local auid=$1
	shift
	sh -c 'echo "$0" > /proc/self/loginuid && exec "$@"' "$auid" "$@"
}

# ---------------------------------------------------------------- extraction helpers
wait_flush() { sleep "${1:-3}"; } # auditd: flush=INCREMENTAL_ASYNC, end_of_event_timeout=2

snapshot_logs() { # the audit log(s) as written since this run started
	local out=$1
	: >"$out"
	if [[ -f $AUDIT_LOG.1 && $AUDIT_LOG.1 -nt $START_STAMP ]]; then cat "$AUDIT_LOG.1" >>"$out"; fi
	cat "$AUDIT_LOG" >>"$out"
}

# Whole events (every record sharing msg=audit(TIME:SERIAL)) in which any record carries the
# field auid=<auid>. Lines are copied unchanged (LC_ALL=C keeps the 0x1d byte and UTF-8).
select_events_by_auid() { # select_events_by_auid AUID INPUT OUTPUT
	LC_ALL=C awk -v want="auid=$1" -v gs="$GS" '
		function key(s) { return match(s, /msg=audit\([0-9]+\.[0-9]+:[0-9]+\)/) ? substr(s, RSTART, RLENGTH) : "" }
		FNR == NR {
			n = split($0, f, "[ " gs "]")
			for (i = 1; i <= n; i++) if (f[i] == want) { k = key($0); if (k != "") keep[k] = 1; break }
			next
		}
		{ k = key($0); if (k != "" && (k in keep)) print }
	' "$2" "$2" >"$3"
}

# Same selection for the NUL-terminated netlink multicast capture (see audit-mcast-listen.c): whole
# events in which any record carries one of the given auid=<n> fields, newline-terminated on output.
# Also keeps every record of those events (EOE carries no fields) by its msg=audit(...) key.
select_mcast_events() { # select_mcast_events INPUT OUTPUT AUID...
	local in=$1 out=$2
	shift 2
	perl -0 -e '
		my %want = map { ("auid=$_" => 1) } @ARGV[1 .. $#ARGV];
		open(my $fh, "<", $ARGV[0]) or die "$ARGV[0]: $!";
		my @recs = map { s/\0\z//r } <$fh>;
		my %keep;
		for my $r (@recs) {
			my ($k) = $r =~ /msg=(audit\(\d+\.\d+:\d+\))/ or next;
			$keep{$k} = 1 if grep { $want{$_} } split /[ \x1d]/, $r;
		}
		for my $r (@recs) {
			my ($k) = $r =~ /msg=(audit\(\d+\.\d+:\d+\))/ or next;
			print "$r\n" if $keep{$k};
		}
	' "$in" "$@" >"$out"
}

events_for_auid() { # events_for_auid AUID OUTPUT
	local snap="$WORK/snapshot.log"
	snapshot_logs "$snap"
	select_events_by_auid "$1" "$snap" "$2"
	[[ -s $2 ]] || die "no audit records found for auid=$1 (is auditd logging?)"
	log "$(basename "$2"): $(wc -l <"$2") records, $(wc -c <"$2") bytes"
}

# Keep whole events, in order, until the byte budget is reached.
trim_events() { # trim_events FILE MAXBYTES
	local f=$1 max=$2
	(($(wc -c <"$f") <= max)) && return 0
	LC_ALL=C awk -v max="$max" '
		function key(s) { return match(s, /audit\([0-9]+\.[0-9]+:[0-9]+\)/) ? substr(s, RSTART, RLENGTH) : s }
		{ k = key($0); if (!(k in seen)) { seen[k] = 1; order[++n] = k }; body[k] = body[k] $0 "\n" }
		END { total = 0; for (i = 1; i <= n; i++) { b = body[order[i]]; if (total + length(b) > max) break; printf "%s", b; total += length(b) } }
	' "$f" >"$f.trim"
	mv "$f.trim" "$f"
	log "trimmed $(basename "$f") to $(wc -c <"$f") bytes (whole events kept)"
}

# ---------------------------------------------------------------- build
build_helpers() {
	mkdir -p "$BIN"
	local cc="gcc -O2 -Wall"
	$cc -o "$BIN/seccomp-log-exec" "$HELPERS/seccomp-log-exec.c" -lseccomp
	$cc -o "$BIN/audit-user-send" "$HELPERS/audit-user-send.c"
	$cc -o "$BIN/audit-mcast-listen" "$HELPERS/audit-mcast-listen.c" -laudit
	$cc -static -o "$BIN/hello-x86_64" "$HELPERS/hello-libc.c"
	$cc -m32 -static -o "$BIN/hello-i386" "$HELPERS/hello-libc.c"
	$cc -static -o "$BIN/x32-nr" "$HELPERS/x32-nr.c"
	local tiny="gcc -O2 -static -nostdlib -fno-stack-protector"
	$tiny -DTINY_X86_64 -o "$BIN/tiny-x86_64" "$HELPERS/tiny-nolibc.c"
	$tiny -DTINY_X32NR -o "$BIN/tiny-x32nr" "$HELPERS/tiny-nolibc.c"
	$tiny -m32 -DTINY_I386 -o "$BIN/tiny-i386" "$HELPERS/tiny-nolibc.c"
	X32_ELF_STATUS="not attempted"
	if $cc -mx32 -static -o "$BIN/hello-x32" "$HELPERS/hello-libc.c" 2>"$WORK/x32-build.err"; then
		X32_ELF_STATUS="built with gcc -mx32 -static"
	else
		X32_ELF_STATUS="gcc -mx32 -static failed: $(head -c 200 "$WORK/x32-build.err")"
	fi
}

# ---------------------------------------------------------------- a. runc
capture_runc() {
	local auid=$((AUID_BASE + 1)) b="$WORK/bundle"
	mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/tmp" "$b/rootfs/etc"
	cp /bin/busybox "$b/rootfs/bin/busybox"
	local a
	for a in sh cat ls echo; do ln -s busybox "$b/rootfs/bin/$a"; done
	cp "$BIN/hello-i386" "$BIN/x32-nr" "$b/rootfs/bin/"
	echo secprof-fixture >"$b/rootfs/etc/hostname"
	(cd "$b" && runc spec)
	RUNC_WORKLOAD='echo hi | cat; ls /; /bin/hello-i386; /bin/x32-nr'
	jq --arg cmd "$RUNC_WORKLOAD" '
		.process.terminal = false
		| .process.args = ["/bin/sh", "-c", $cmd]
		| .root.readonly = true
		| .hostname = "secprof-fixture"
		| .linux.seccomp = {
			defaultAction: "SCMP_ACT_LOG",
			architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
			syscalls: []
		}' "$b/config.json" >"$b/config.json.new"
	mv "$b/config.json.new" "$b/config.json"
	cp "$b/config.json" "$WORK/runc-config.json"
	CONTAINER="secprof-fx-$RUN_ID"
	log "runc run $CONTAINER (auid=$auid): $RUNC_WORKLOAD"
	as_login "$auid" runc --root "$RUNC_ROOT" run --bundle "$b" "$CONTAINER" >"$WORK/runc.out" 2>&1 </dev/null ||
		log "runc exited non-zero (see below)"
	sed 's/^/    runc> /' "$WORK/runc.out" >&2
	runc --root "$RUNC_ROOT" delete -f "$CONTAINER" >/dev/null 2>&1 || true
	CONTAINER=""
	wait_flush 3
	events_for_auid "$auid" "$OUT/runc-seccomp-log.log"
	RUNC_AUID=$auid
}

# ---------------------------------------------------------------- b. i386 + x32
capture_compat() {
	local auid=$((AUID_BASE + 2))
	log "i386: seccomp-log-exec hello-i386 (auid=$auid)"
	as_login "$auid" "$BIN/seccomp-log-exec" "$BIN/hello-i386" >/dev/null
	wait_flush 3
	events_for_auid "$auid" "$OUT/compat-i386-seccomp-log.log"

	auid=$((AUID_BASE + 3))
	log "x32: seccomp-log-exec x32-nr, then seccomp-log-exec hello-x32 (auid=$auid)"
	cat >"$WORK/x32.sh" <<-EOF
		"$BIN/seccomp-log-exec" "$BIN/x32-nr"
		if [ -x "$BIN/hello-x32" ]; then "$BIN/seccomp-log-exec" "$BIN/hello-x32" || echo "hello-x32 exit \$?"; fi
	EOF
	as_login "$auid" sh "$WORK/x32.sh" >"$WORK/x32.out" 2>&1 || true
	sed 's/^/    x32> /' "$WORK/x32.out" >&2
	X32_EXEC_RESULT=$(grep -h 'execv' "$WORK/x32.out" | head -1 || true)
	wait_flush 3
	events_for_auid "$auid" "$OUT/x32-syscall-bit-seccomp-log.log"
}

# ---------------------------------------------------------------- c. kernel printk form
# Keeps the marker lines, audit/kauditd lines that are not records (rate-limit notices), CONFIG_CHANGE
# records (auditd stop/start), every record of the events our own programs produced (exe under
# $WORK, or auditd/auditctl), and the forged user message (any line naming secprof-fixture or
# secprof-forged, which also keeps its continuation line); other processes' records are dropped.
filter_kmsg_window() { # filter_kmsg_window INPUT OUTPUT
	LC_ALL=C awk -v begin="$KMSG_BEGIN" -v end="$KMSG_END" -v work="$WORK/" '
		function key(s) { return match(s, /audit\([0-9]+\.[0-9]+:[0-9]+\)/) ? substr(s, RSTART, RLENGTH) : "" }
		function ours(s) {
			return index(s, "exe=\"" work) || index(s, "comm=\"auditd\"") || index(s, "comm=\"auditctl\"") || index(s, "type=1305 ")
		}
		function named(s) { return index(s, "secprof-fixture") || index(s, "secprof-forged") }
		FNR == NR {
			if (index($0, begin)) inwin = 1
			if (inwin && ours($0)) { k = key($0); if (k != "") keep[k] = 1 }
			if (index($0, end)) inwin = 0
			next
		}
		index($0, begin) { inwin = 1 }
		inwin {
			k = key($0)
			if (named($0)) print
			else if (k != "" && (k in keep)) print
			else if (k == "" && ($0 ~ /audit|kauditd/)) print
		}
		index($0, end) { inwin = 0 }
	' "$1" "$1" >"$2"
}

capture_printk() {
	KMSG_BEGIN="secprof-fixture: printk capture begin run=$RUN_ID"
	KMSG_END="secprof-fixture: printk capture end run=$RUN_ID"
	echo "$KMSG_BEGIN" >/dev/kmsg
	log "stopping auditd for the printk capture"
	stop_auditd
	sleep 6 # let printk_ratelimit (5 s interval, burst 10) recover from the stop records
	"$BIN/seccomp-log-exec" "$BIN/tiny-x86_64" >/dev/null
	"$BIN/seccomp-log-exec" "$BIN/tiny-i386" >/dev/null
	"$BIN/seccomp-log-exec" "$BIN/tiny-x32nr" >/dev/null
	# A user-space message whose text, after a raw newline, imitates a printk'd SECCOMP line.
	"$BIN/audit-user-send" 1005 "secprof-fixture printk forged"$'\n'"audit: type=1326 audit(1795700000.000:4242): auid=0 uid=0 gid=0 ses=1 pid=4242 comm=\"secprof-forged\" exe=\"/usr/bin/secprof-forged\" sig=0 arch=c000003e syscall=59 compat=0 ip=0x7f0000001000 code=0x7ffc0000"
	sleep 1
	log "restarting auditd"
	ensure_auditd
	sleep 1
	echo "$KMSG_END" >/dev/kmsg
	dmesg >"$WORK/dmesg.txt"
	dmesg -r >"$WORK/dmesg-r.txt"
	dmesg --time-format=iso >"$WORK/dmesg-iso.txt"
	dd if=/dev/kmsg iflag=nonblock bs=65536 of="$WORK/devkmsg.txt" 2>/dev/null || true
	filter_kmsg_window "$WORK/dmesg.txt" "$OUT/kmsg-dmesg.log"
	filter_kmsg_window "$WORK/dmesg-r.txt" "$OUT/kmsg-dmesg-raw.log"
	filter_kmsg_window "$WORK/dmesg-iso.txt" "$OUT/kmsg-dmesg-iso.log"
	filter_kmsg_window "$WORK/devkmsg.txt" "$OUT/kmsg-devkmsg.log"
	local f
	for f in kmsg-dmesg kmsg-dmesg-raw kmsg-dmesg-iso kmsg-devkmsg; do
		log "$f.log: $(grep -c 'type=1326 audit([0-9]' "$OUT/$f.log" || true) SECCOMP lines, $(wc -l <"$OUT/$f.log") lines"
	done
	# 9 real SECCOMP records are expected (3 programs x 3 syscalls) plus the forged one. Fewer means
	# printk_ratelimit was spent by other processes' audit records while auditd was down.
	if (($(grep -c 'type=1326 audit(1[0-9]*\.[0-9]*:[0-9]*): auid=4294967295' "$OUT/kmsg-dmesg.log" || true) < 9)); then
		log "WARNING: some printk'd SECCOMP records were rate-limited (see 'callbacks suppressed'); re-run for a complete kmsg capture"
	fi
	# The same events as auditd logged them, if the kernel held them for the restarted auditd.
	wait_flush 3
	local snap="$WORK/snapshot.log" keys="$WORK/kmsg-keys.txt"
	snapshot_logs "$snap"
	grep -o 'audit([0-9]*\.[0-9]*:[0-9]*)' "$OUT/kmsg-dmesg.log" | sort -u >"$keys" || true
	LC_ALL=C awk 'FNR == NR { keep["msg=" $0] = 1; next }
		{ if (match($0, /msg=audit\([0-9]+\.[0-9]+:[0-9]+\)/) && (substr($0, RSTART, RLENGTH) in keep)) print }' \
		"$keys" "$snap" >"$OUT/kmsg-window-auditd.log"
	if [[ -s $OUT/kmsg-window-auditd.log ]]; then
		log "kmsg-window-auditd.log: $(wc -l <"$OUT/kmsg-window-auditd.log") records (held by the kernel, logged by auditd after restart)"
	else
		rm -f "$OUT/kmsg-window-auditd.log"
		log "kernel did not hold the printk'd records for auditd (audit= boot parameter not set): no kmsg-window-auditd.log"
	fi
}

# ---------------------------------------------------------------- d. rules: SYSCALL/PATH/CWD/PROCTITLE/EOE
start_mcast() {
	local ready="$WORK/mcast.ready" _
	"$BIN/audit-mcast-listen" "$WORK/mcast.bin" "$ready" &
	MCAST_PID=$!
	for _ in $(seq 1 50); do
		[[ -e $ready ]] && return 0
		sleep 0.1
	done
	die "netlink multicast listener did not start"
}

stop_mcast() {
	kill -TERM "$MCAST_PID"
	wait "$MCAST_PID" || true
	MCAST_PID=""
}

capture_rules() {
	local a4=$((AUID_BASE + 4)) a5=$((AUID_BASE + 5)) a8=$((AUID_BASE + 8)) watched="$WORK/watched"
	mkdir -p "$watched"
	# Rules are added and removed by auditctl running with auid=a8, outside the audited range, so
	# auditctl's own syscalls are not audited; its CONFIG_CHANGE events are kept separately.
	local key=secprof-fixture range="-F auid>=$a4 -F auid<=$a5"
	add_rule "-a always,exit -F arch=b64 -S openat,execve $range -k $key" \
		"-d always,exit -F arch=b64 -S openat,execve $range -k $key" "$a8"
	add_rule "-a always,exit -F arch=b32 -S open,openat,execve $range -k $key" \
		"-d always,exit -F arch=b32 -S open,openat,execve $range -k $key" "$a8"
	add_rule "-w $watched -p wa -k $key-watch" "-W $watched -p wa -k $key-watch" "$a8"

	cat >"$WORK/rules-workload.sh" <<-'EOF'
		cat /etc/hostname >/dev/null
		echo data >"$1/plain.txt"
		echo data >"$1/with space é.txt"
		"$2"
	EOF
	log "rules workload (auid=$a4): cat, two file creations in a watched dir, i386 exec"
	as_login "$a4" bash "$WORK/rules-workload.sh" "$watched" "$BIN/hello-i386" >/dev/null
	log "seccomp + rules workload (auid=$a5): seccomp-log-exec hello-i386"
	as_login "$a5" "$BIN/seccomp-log-exec" "$BIN/hello-i386" >/dev/null
	sleep 1
	del_rules "$a8"
	wait_flush 3
	events_for_auid "$a4" "$OUT/syscall-rule-multirecord.log"
	events_for_auid "$a5" "$OUT/seccomp-with-syscall-rule.log"
	events_for_auid "$a8" "$OUT/config-change-rules.log"
	RULES_AUIDS=("$a4" "$a5")
}

# ---------------------------------------------------------------- e. user-space records
capture_user() {
	local a6=$((AUID_BASE + 6)) a7=$((AUID_BASE + 7))
	log "PAM records: su nobody (auid=$a6)"
	as_login "$a6" su -s /bin/sh -c true nobody
	wait_flush 3
	events_for_auid "$a6" "$OUT/pam-user-records.log"

	log "user-space messages incl. forged SECCOMP-looking text (auid=$a7)"
	local forged='type=SECCOMP msg=audit(1795700000.000:4242): auid=0 uid=0 gid=0 ses=1 pid=4242 comm="secprof-forged" exe="/usr/bin/secprof-forged" sig=0 arch=c000003e syscall=59 compat=0 ip=0x7f0000001000 code=0x7ffc0000'
	cat >"$WORK/user-workload.sh" <<-'EOF'
		auditctl -m 'secprof-fixture benign text via auditctl -m'
		"$SEND" 1005 "$FORGED"
		"$SEND" 1005 "$FORGED_NEWLINE"
		"$SEND" 1005 "$FORGED_QUOTE"
		"$SEND" 1107 "$FORGED_USER_AVC"
	EOF
	SEND="$BIN/audit-user-send" \
		FORGED="$forged" \
		FORGED_NEWLINE="secprof-fixture line1"$'\n'"$forged" \
		FORGED_QUOTE="secprof-fixture' $forged '" \
		FORGED_USER_AVC='avc:  denied  { send_msg } for msgtype=method_call interface=org.freedesktop.DBus member=Hello dest=org.freedesktop.DBus spid=4242 scontext=system_u:system_r:secprof_forged_t:s0 tcontext=system_u:system_r:system_dbusd_t:s0 tclass=dbus permissive=0  exe="/usr/bin/dbus-daemon" sauid=81 hostname=? addr=? terminal=?' \
		as_login "$a7" sh "$WORK/user-workload.sh"
	wait_flush 3
	events_for_auid "$a7" "$OUT/user-forged.log"
	FORGED_AUID=$a7
}

write_mcast_fixtures() {
	select_mcast_events "$WORK/mcast.bin" "$OUT/netlink-multicast-readlog.log" "${RULES_AUIDS[@]}"
	select_mcast_events "$WORK/mcast.bin" "$OUT/netlink-multicast-user-forged.log" "$FORGED_AUID"
	log "netlink-multicast-readlog.log: $(grep -c '^type=' "$OUT/netlink-multicast-readlog.log" || true) records, $(grep -c '^type=EOE ' "$OUT/netlink-multicast-readlog.log" || true) EOE"
	log "netlink-multicast-user-forged.log: $(wc -l <"$OUT/netlink-multicast-user-forged.log") lines"
}

# ---------------------------------------------------------------- laurel (if installed as an auditd plugin)
capture_laurel() {
	local f=/var/log/laurel/audit.log
	rm -f "$OUT/laurel-runc-seccomp.jsonl"
	[[ -r $f ]] || return 0
	sleep 2
	grep -F "\"auid\":$RUNC_AUID," "$f" >"$OUT/laurel-runc-seccomp.jsonl" || true
	if [[ -s $OUT/laurel-runc-seccomp.jsonl ]]; then
		trim_events "$OUT/laurel-runc-seccomp.jsonl" "$MAX_FIXTURE_BYTES"
		log "laurel-runc-seccomp.jsonl: $(wc -l <"$OUT/laurel-runc-seccomp.jsonl") events"
	else
		rm -f "$OUT/laurel-runc-seccomp.jsonl"
	fi
}

# ---------------------------------------------------------------- metadata
write_meta() {
	local m="$OUT/capture-meta.txt"
	{
		echo "# Written by packages/testkit/scripts/capture-audit-fixtures.sh; describes the last capture run."
		echo "captured_at_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "hostname=$(hostname)"
		echo "kernel=$(uname -r)"
		echo "kernel_x86_x32_abi=$(zcat /proc/config.gz 2>/dev/null | grep -E '^(# )?CONFIG_X86_X32_ABI' || echo unknown)"
		echo "kernel_ia32_emulation=$(zcat /proc/config.gz 2>/dev/null | grep -E '^(# )?CONFIG_IA32_EMULATION[= ]' || echo unknown)"
		echo "auditd=$(auditctl -v 2>&1 | head -1) (debian package $(dpkg-query -W -f '${Version}' auditd))"
		echo "auditd_log_format=$(awk -F' *= *' '$1 == "log_format" { print $2 }' /etc/audit/auditd.conf)"
		echo "audit_backlog_limit=$(auditctl -s | awk '$1 == "backlog_limit" { print $2 }')"
		echo "seccomp_actions_logged=$(cat /proc/sys/kernel/seccomp/actions_logged)"
		echo "printk_ratelimit=$(cat /proc/sys/kernel/printk_ratelimit) printk_ratelimit_burst=$(cat /proc/sys/kernel/printk_ratelimit_burst)"
		echo "runc=$(runc --version | tr '\n' ' ')"
		echo "libseccomp=$(dpkg-query -W -f '${Version}' libseccomp2)"
		echo "gcc=$(gcc -dumpfullversion)"
		echo "busybox=$(busybox 2>&1 | head -1)"
		echo "util_linux_dmesg=$(dmesg --version)"
		echo "laurel=$(laurel --version 2>/dev/null | head -1 || echo absent)"
		echo "run_id=$RUN_ID"
		echo "auid_base=$AUID_BASE (runc +1, i386 +2, x32 +3, rules +4, seccomp+rules +5, pam +6, forged +7, rule changes +8)"
		echo "runc_workload=$RUNC_WORKLOAD"
		echo "x32_elf=$X32_ELF_STATUS"
		echo "x32_elf_exec=${X32_EXEC_RESULT:-n/a}"
		echo
		echo "# sha256  bytes  file"
		(cd "$OUT" && find . -type f \( -name '*.log' -o -name '*.jsonl' \) | sort | while read -r f; do
			printf '%s  %s  %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$(wc -c <"$f")" "${f#./}"
		done)
	} >"$m"
}

# ---------------------------------------------------------------- main
main() {
	ensure_packages
	ensure_auditd
	mkdir -p "$OUT" "$OUT/derived" "$OUT/public"
	touch "$START_STAMP"
	RUN_ID=$(date +%s)
	AUID_BASE=$((2000000000 + (RUN_ID % 1000000) * 100)) # < 2^31: auditd 3.0.9 ENRICHED prints larger auids as negative numbers
	log "work dir $WORK, auid base $AUID_BASE"
	build_helpers
	capture_runc
	capture_compat
	start_mcast
	capture_rules
	capture_user
	stop_mcast
	write_mcast_fixtures
	capture_printk
	capture_laurel
	local f
	for f in "$OUT"/*.log; do trim_events "$f" "$MAX_FIXTURE_BYTES"; done
	node "$HERE/derive-audit-variants.mjs" "$OUT"
	write_meta
	auditctl -s | sed 's/^/    auditctl -s> /' >&2
}

main "$@"
