/**
 * Real workloads for the simulated node, each a shell script run as a pod's container (host /usr
 * and /etc read-only, host network) that exercises the program and checks its results itself:
 * exit 0 and a last line `CHECK-OK` when everything it did worked. The same script is recorded
 * under the trace profile and later run under the installed profile.
 */
/**
 * The container stays up a moment after its work, as a pod does until the kubelet notices its end:
 * a container gone within milliseconds of its last syscall can leave its eBPF namespace unattributed.
 */
const LINGER = "sleep 2";

export interface Workload {
  /** Pod label `app`, recording and pod name stem. */
  app: string;
  script: (port: number) => string;
  /** A syscall the workload cannot do without: removing it from its profile must fail the check. */
  needs?: string;
  /** How it is recorded: through the webhook and the audit log, or by eBPF without touching the pod. */
  recorder: "Logs" | "Bpf";
}

/**
 * Waits up to 10 s for a server in the background to log that it listens. The clients then run
 * once each: a workload must take the same code paths when recorded and when enforced (a retry
 * loop whose first attempt only sometimes fails would call syscalls the recording never saw).
 */
const waitForLog = (file: string, text: string) =>
  `i=0; sleep 0.1; until grep -q '${text}' ${file}; do i=$((i+1)); [ $i -lt 100 ] || { echo "gave up waiting for '${text}' in ${file}"; cat ${file}; exit 3; }; sleep 0.1; done`;

/**
 * Recorded by eBPF: in Logs mode the records of its short-lived commands (mkdir, curl, grep) are
 * attributed only if the exec tracker's event for the process arrives before the recorder reads
 * them, which on a loaded machine sometimes fails (see the report of issue 8).
 */
export const HTTP: Workload = {
  app: "http",
  needs: "socket",
  recorder: "Bpf",
  script: (port) => `set -e
mkdir -p /tmp/www
echo secprof-http-ok > /tmp/www/index.html
cd /tmp/www
python3 -u -m http.server ${port} --bind 127.0.0.1 >/tmp/http.log 2>&1 &
srv=$!
${waitForLog("/tmp/http.log", "Serving HTTP")}
for n in 1 2 3 4 5; do curl -sf -o /tmp/got http://127.0.0.1:${port}/index.html; grep -qx secprof-http-ok /tmp/got; done
test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${port}/missing)" = 404
echo CHECK-OK
${LINGER}`,
};

export const REDIS: Workload = {
  app: "redis",
  needs: "socket",
  recorder: "Logs",
  script: (port) => `set -e
redis-server --port ${port} --bind 127.0.0.1 --save '' --appendonly no --dir /tmp >/tmp/redis.log 2>&1 &
srv=$!
${waitForLog("/tmp/redis.log", "Ready to accept connections")}
test "$(redis-cli -p ${port} PING)" = PONG
test "$(redis-cli -p ${port} SET secprof-key value-1)" = OK
test "$(redis-cli -p ${port} GET secprof-key)" = value-1
test "$(redis-cli -p ${port} INCRBY secprof-n 41)" = 41
echo CHECK-OK
${LINGER}`,
};

/** Dozens of millisecond-long processes: recorded by eBPF, which aggregates per mount namespace in the kernel. */
export const BATCH: Workload = {
  app: "batch",
  recorder: "Bpf",
  script: () => `set -e
mkdir -p /tmp/job
cd /tmp/job
for i in $(seq 1 40); do echo "item-$i $((i*i))"; done > data.txt
sort -k2 -n -r data.txt | head -n 5 > top.txt
awk '{s+=$2} END {print s}' data.txt > sum.txt
sed -e 's/item-/row-/' data.txt | tr a-z A-Z | grep -c ROW > count.txt
tar -cf job.tar data.txt top.txt sum.txt && gzip -9 job.tar
gunzip -c job.tar.gz | tar -tf - | wc -l > files.txt
md5sum data.txt | cut -c1-32 > data.md5
test "$(cat sum.txt)" = 22140
test "$(cat count.txt)" = 40
test "$(cat files.txt)" = 3
test "$(head -n 1 top.txt)" = "item-40 1600"
echo CHECK-OK
${LINGER}`,
};

export const WORKLOADS = [HTTP, REDIS, BATCH] as const;
