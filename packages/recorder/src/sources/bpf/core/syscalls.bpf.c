// SPDX-License-Identifier: GPL-2.0
/*
 * secprof syscall recorder, CO-RE build of syscalls.bt (clang -target bpf, loaded by loader.c).
 *
 * Same data as syscalls.bt: a map of (mount namespace, compat, syscall id) keys, and exec
 * events (pid -> mount namespace). What differs is how it attaches, which is most of the cost:
 * bpftrace 0.17 attaches raw_syscalls:sys_enter through a perf event opened on one CPU, and
 * because its programs return 1 the kernel builds a perf sample for every syscall made there
 * (several hundred ns). These are tp_btf programs (BPF_RAW_TRACEPOINT_OPEN): the kernel calls
 * them directly, with no perf event and no sample, on every CPU alike. What remains is the
 * tracepoint itself (any sys_enter probe puts every task on the slow syscall path) and the
 * map lookup. fentry on x64_sys_call would avoid the slow path too, but kernels that forbid
 * BPF trampolines (as the VMs this was measured on do) refuse it, so it is not used.
 *
 * Types are declared here with only the fields used (preserve_access_index): libbpf relocates
 * the offsets against the running kernel's BTF, so no vmlinux.h or kernel headers are needed.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

typedef __s32 pid_t;

struct pt_regs;

struct ns_common {
  unsigned int inum;
} __attribute__((preserve_access_index));

struct mnt_namespace {
  struct ns_common ns;
} __attribute__((preserve_access_index));

struct nsproxy {
  struct mnt_namespace *mnt_ns;
} __attribute__((preserve_access_index));

struct thread_info {
  __u32 status;
} __attribute__((preserve_access_index));

struct task_struct {
  struct thread_info thread_info;
  struct nsproxy *nsproxy;
  struct task_struct *real_parent;
  pid_t tgid;
  char comm[16];
} __attribute__((preserve_access_index));

struct linux_binprm {
  const char *filename;
} __attribute__((preserve_access_index));

/* x86 thread_info.status: set by the entry code for every 32-bit syscall. */
#define TS_COMPAT 0x0002
#define NR_EXECVE 59
#define FILENAME_MAX_LEN 256

/* Set by the loader before loading (loader.c's struct config: one struct fixes the layout). */
const volatile struct {
  __u32 exclude_mntns;
  __u32 count_calls;
} config = {};

struct key {
  __u32 mntns;
  __u32 compat;
  __s64 id;
};

/* The loader makes this a per-CPU hash in count mode and sets max_entries. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct key);
  __type(value, __u64);
} sc SEC(".maps");

struct exec_event {
  __u32 pid;
  __u32 ppid;
  __u32 mntns;
  __u32 execve_seen;
  char comm[16];
  char filename[FILENAME_MAX_LEN];
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} execs SEC(".maps");

/* Exec events dropped because the ring buffer was full (read by the loader). */
__u64 lost = 0;

/*
 * A BTF pointer (bpf_get_current_task_btf, tp_btf arguments) is dereferenced with plain loads
 * the verifier turns into fault-safe ones, instead of a bpf_probe_read_kernel() call per hop.
 */
static __always_inline __u32 task_mntns(struct task_struct *t) {
  return t->nsproxy->mnt_ns->ns.inum;
}

/*
 * Seen mode's per-CPU cache of keys already in `sc`: one slot per (mount namespace mod
 * CACHE_SLOTS), a bit per (compat, id) for ids below CACHED_NR (every x86_64 and i386 syscall
 * today). A hit costs an array lookup the verifier inlines and a bit test, instead of hashing
 * the key; a bit is set only once the key is in `sc`, and keys never leave `sc` while recording,
 * so a hit never hides a key. A slot taken over by another namespace starts empty.
 */
#define CACHE_SLOTS 8
#define CACHED_NR 512

struct seen_slot {
  __u32 mntns;
  __u32 unused;
  __u64 bits[2][CACHED_NR / 64];
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, CACHE_SLOTS);
  __type(key, __u32);
  __type(value, struct seen_slot);
} seen_cache SEC(".maps");

static __always_inline void record(__u32 compat, __s64 id) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
  struct key k = {.mntns = task_mntns(t), .compat = compat & 1, .id = id};
  if (k.mntns == config.exclude_mntns) return;

  __u64 *word = 0;
  __u64 bit = 0;
  if (!config.count_calls && id >= 0 && id < CACHED_NR) {
    __u32 slot = k.mntns % CACHE_SLOTS;
    struct seen_slot *c = bpf_map_lookup_elem(&seen_cache, &slot);
    if (c != 0) {
      if (c->mntns != k.mntns) {
        c->mntns = k.mntns;
        for (int i = 0; i < CACHED_NR / 64; i++) {
          c->bits[0][i] = 0;
          c->bits[1][i] = 0;
        }
      }
      word = &c->bits[k.compat][(__u32)id / 64];
      bit = 1ULL << ((__u32)id % 64);
      if (*word & bit) return;
    }
  }

  __u64 *v = bpf_map_lookup_elem(&sc, &k);
  if (v != 0) {
    if (config.count_calls) *v += 1; /* per-CPU value in count mode: no atomics needed */
  } else {
    __u64 one = 1;
    long err = bpf_map_update_elem(&sc, &k, &one, BPF_NOEXIST);
    if (err != 0 && err != -17 /* EEXIST: another CPU inserted it */) return; /* map full */
  }
  if (word != 0) *word |= bit;
}

/*
 * compat: TS_COMPAT, which the x86 entry code sets for every 32-bit syscall (int 0x80, sysenter,
 * or syscall from 32-bit code) before sys_enter fires; id as the kernel sees it (x32 calls keep
 * their 0x40000000 bit). Exactly what syscalls.bt reads.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
  record((t->thread_info.status & TS_COMPAT) ? 1 : 0, id);
  return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) {
  struct exec_event *e = bpf_ringbuf_reserve(&execs, sizeof(*e), 0);
  if (e == 0) {
    __sync_fetch_and_add(&lost, 1);
    return 0;
  }
  struct task_struct *t = (struct task_struct *)bpf_get_current_task_btf();
  e->pid = t->tgid;
  e->ppid = t->real_parent->tgid;
  e->mntns = task_mntns(t);
  /* The execve that led here is already in the map: proves the syscall probe is attached. */
  struct key k = {.mntns = e->mntns, .compat = 0, .id = NR_EXECVE};
  e->execve_seen = bpf_map_lookup_elem(&sc, &k) != 0;
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), bprm->filename);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
