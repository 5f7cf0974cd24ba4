// SPDX-License-Identifier: GPL-2.0
/*
 * Loads syscalls.bpf.o and prints what bpftrace prints for syscalls.bt with `-B line -f json`,
 * so BpftraceSource parses (and zod-validates) both the same way:
 *
 *   secprof-bpf <syscalls.bpf.o> <interval_ms> <exclude_mntns> <max_keys> <seen|count>
 *
 *   {"type": "value", "data": ["ready", 0]}            once every probe is attached
 *   {"type": "value", "data": ["exec", pid, ppid, mntns, comm, filename, seen]}
 *   {"type": "map", "data": {"@sc": {"<mntns>,<compat>,<id>": n, ...}}}   every interval
 *   {"type": "value", "data": ["tick", ns]}   after each map: every exec before CLOCK_MONOTONIC ns is printed
 *   {"type": "lost_events", "data": {"events": n}}      exec events the ring buffer dropped
 *   {"type": "value", "data": ["final", 0]}, the final map, {"type": "value", "data": ["end", 0]}
 *
 * On SIGINT/SIGTERM it detaches the syscall probes, drains the exec events, prints the final
 * map and exits 0. Errors go to stderr with libbpf's messages, exit code 1.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct key {
  uint32_t mntns;
  uint32_t compat;
  int64_t id;
};

struct exec_event {
  uint32_t pid;
  uint32_t ppid;
  uint32_t mntns;
  uint32_t execve_seen;
  char comm[16];
  char filename[256];
};

struct config {
  uint32_t exclude_mntns;
  uint32_t count_calls;
};

static volatile sig_atomic_t stopping = 0;
static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  return vfprintf(stderr, fmt, ap);
}

static void die(const char *what, int err) {
  fprintf(stderr, "secprof-bpf: %s: %s\n", what, strerror(err < 0 ? -err : err));
  exit(1);
}

/* A JSON string of at most `max` bytes of s (NUL-terminated or not). */
static void print_json_string(const char *s, size_t max) {
  putchar('"');
  for (size_t i = 0; i < max && s[i] != '\0'; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static size_t strlen_max = 200;

static int on_exec(void *ctx, void *data, size_t size) {
  (void)ctx;
  if (size < sizeof(struct exec_event)) return 0;
  const struct exec_event *e = data;
  printf("{\"type\": \"value\", \"data\": [\"exec\", %u, %u, %u, ", e->pid, e->ppid, e->mntns);
  print_json_string(e->comm, sizeof(e->comm));
  printf(", ");
  print_json_string(e->filename, strlen_max < sizeof(e->filename) ? strlen_max : sizeof(e->filename));
  printf(", %u]}\n", e->execve_seen);
  return 0;
}

static void print_map(int fd, int ncpus, int percpu) {
  struct key k, next;
  uint64_t values[percpu ? ncpus : 1];
  int first = 1;
  void *prev = NULL;
  printf("{\"type\": \"map\", \"data\": {\"@sc\": {");
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    k = next;
    prev = &k;
    if (bpf_map_lookup_elem(fd, &k, values) != 0) continue;
    uint64_t n = 0;
    for (int i = 0; i < (percpu ? ncpus : 1); i++) n += values[i];
    printf("%s\"%u,%u,%lld\": %llu", first ? "" : ", ", k.mntns, k.compat, (long long)k.id,
           (unsigned long long)n);
    first = 0;
  }
  printf("}}}\n");
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void) { return now_ns() / 1000000ull; }

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s <syscalls.bpf.o> <interval_ms> <exclude_mntns> <max_keys> <seen|count>\n",
            argv[0]);
    return 2;
  }
  const char *path = argv[1];
  long interval = strtol(argv[2], NULL, 10);
  unsigned long exclude = strtoul(argv[3], NULL, 10);
  long max_keys = strtol(argv[4], NULL, 10);
  int counts = strcmp(argv[5], "count") == 0;
  if (interval < 1 || max_keys < 1 || (!counts && strcmp(argv[5], "seen") != 0)) {
    fprintf(stderr, "secprof-bpf: bad arguments\n");
    return 2;
  }
  const char *env_strlen = getenv("BPFTRACE_STRLEN");
  if (env_strlen != NULL && atoi(env_strlen) > 0) strlen_max = (size_t)atoi(env_strlen);

  setvbuf(stdout, NULL, _IOLBF, 0);
  libbpf_set_print(print_libbpf);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);

  struct bpf_object *obj = bpf_object__open_file(path, NULL);
  if (obj == NULL) die("open BPF object", errno);

  struct bpf_map *sc = bpf_object__find_map_by_name(obj, "sc");
  struct bpf_map *execs = bpf_object__find_map_by_name(obj, "execs");
  struct bpf_map *rodata = NULL, *bss = NULL;
  struct bpf_map *m;
  bpf_object__for_each_map(m, obj) {
    const char *name = bpf_map__name(m);
    size_t len = strlen(name);
    if (len >= 7 && strcmp(name + len - 7, ".rodata") == 0) rodata = m;
    if (len >= 4 && strcmp(name + len - 4, ".bss") == 0) bss = m;
  }
  if (sc == NULL || execs == NULL || rodata == NULL || bss == NULL) die("BPF object lacks its maps", EINVAL);
  size_t rodata_size = 0;
  const void *initial = bpf_map__initial_value(rodata, &rodata_size);
  if (initial == NULL || rodata_size < sizeof(struct config)) die("BPF object lacks its configuration", EINVAL);
  char config_bytes[rodata_size];
  memcpy(config_bytes, initial, rodata_size);
  struct config cfg = {.exclude_mntns = (uint32_t)exclude, .count_calls = (uint32_t)counts};
  memcpy(config_bytes, &cfg, sizeof(cfg)); /* `config`, the only .rodata variable */
  int err = bpf_map__set_initial_value(rodata, config_bytes, rodata_size);
  if (err) die("configure BPF object", err);
  if (counts) bpf_map__set_type(sc, BPF_MAP_TYPE_PERCPU_HASH);
  bpf_map__set_max_entries(sc, (uint32_t)max_keys);

  err = bpf_object__load(obj);
  if (err) die("load BPF programs", err);

  /* sys_enter first, exec last; "ready" below tells BpftraceSource that both are attached. */
  struct bpf_link *sys_link = bpf_program__attach(bpf_object__find_program_by_name(obj, "on_sys_enter"));
  if (sys_link == NULL) die("attach tp_btf/sys_enter", errno);
  struct bpf_link *exec_link = bpf_program__attach(bpf_object__find_program_by_name(obj, "on_exec"));
  if (exec_link == NULL) die("attach tp_btf/sched_process_exec", errno);

  struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(execs), on_exec, NULL, NULL);
  if (rb == NULL) die("ring buffer", errno);
  int sc_fd = bpf_map__fd(sc);
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus < 1) die("count CPUs", ncpus);
  int bss_fd = bpf_map__fd(bss);
  size_t bss_size = bpf_map__value_size(bss);
  uint64_t bss_buf[(bss_size + 7) / 8 + 1];
  uint64_t lost_reported = 0;
  uint32_t zero = 0;
  /* `lost` is the only .bss variable. */
  #define REPORT_LOST()                                                                 \
    do {                                                                                \
      if (bpf_map_lookup_elem(bss_fd, &zero, bss_buf) == 0 && bss_buf[0] > lost_reported) { \
        printf("{\"type\": \"lost_events\", \"data\": {\"events\": %llu}}\n",           \
               (unsigned long long)(bss_buf[0] - lost_reported));                      \
        lost_reported = bss_buf[0];                                                     \
      }                                                                                 \
    } while (0)

  printf("{\"type\": \"value\", \"data\": [\"ready\", 0]}\n");
  uint64_t next = now_ms() + (uint64_t)interval;
  while (!stopping) {
    uint64_t t = now_ms();
    if (t >= next) {
      /* Drain the execs first: the tick then vouches for every exec submitted before it was read. */
      uint64_t tick = now_ns();
      ring_buffer__consume(rb);
      REPORT_LOST();
      print_map(sc_fd, ncpus, counts);
      printf("{\"type\": \"value\", \"data\": [\"tick\", %llu]}\n", (unsigned long long)tick);
      next += (uint64_t)interval;
      if (next <= t) next = t + (uint64_t)interval;
      continue;
    }
    /* At most 100 ms: a signal that lands just before the poll must not wait for a long interval. */
    err = ring_buffer__poll(rb, (int)(next - t < 100 ? next - t : 100));
    if (err < 0 && err != -EINTR) die("poll ring buffer", err);
  }

  /* Detach first: the final map then holds every syscall made before, as with bpftrace. */
  bpf_link__destroy(sys_link);
  bpf_link__destroy(exec_link);
  ring_buffer__consume(rb);
  REPORT_LOST();
  printf("{\"type\": \"value\", \"data\": [\"final\", 0]}\n");
  print_map(sc_fd, ncpus, counts);
  printf("{\"type\": \"value\", \"data\": [\"end\", 0]}\n");
  ring_buffer__free(rb);
  bpf_object__close(obj);
  return 0;
}
