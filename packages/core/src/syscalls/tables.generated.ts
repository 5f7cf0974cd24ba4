// GENERATED FILE — DO NOT EDIT. Regenerate with:
//   node scripts/gen-syscall-tables.mjs
// Syscall tables from libseccomp 2.5.4 (Debian libseccomp2 2.5.4-1+deb12u1):
// seccomp_syscall_resolve_num_arch() over every number, cross-checked with seccomp_syscall_resolve_name_arch().
// Audit arch codes from AUDIT_ARCH_* in <linux/audit.h> (linux-libc-dev 6.1.187-1).
import type { ArchName } from "./arch.js";

export const LIBSECCOMP_VERSION = "2.5.4";

/** AUDIT_ARCH_* per arch in lowercase hex as audit prints it (`%x`: no leading zeros). x32 shares x86_64's. */
export const AUDIT_ARCH_CODES: Readonly<Record<ArchName, string>> = {
  x86_64: "c000003e", // AUDIT_ARCH_X86_64
  x86: "40000003", // AUDIT_ARCH_I386
  x32: "c000003e", // AUDIT_ARCH_X86_64
  aarch64: "c00000b7", // AUDIT_ARCH_AARCH64
  arm: "40000028", // AUDIT_ARCH_ARM
  ppc64le: "c0000015", // AUDIT_ARCH_PPC64LE
  ppc64: "80000015", // AUDIT_ARCH_PPC64
  s390x: "80000016", // AUDIT_ARCH_S390X
  s390: "16", // AUDIT_ARCH_S390
  riscv64: "c00000f3", // AUDIT_ARCH_RISCV64
};

/**
 * Per arch: segments [firstNumber, lines]. Each line holds space-separated names of consecutive syscall numbers
 * (10 per line, the trailing comment is the line's first number); "-" marks a number with no syscall.
 * Numbers are as the kernel reports them (x32: with __X32_SYSCALL_BIT 0x40000000 set).
 */
export const SYSCALL_TABLES: Readonly<Record<ArchName, readonly (readonly [number, readonly string[]])[]>> = {
  // x86_64: 368 syscalls
  x86_64: [
    [0, [
      "read write open close stat fstat lstat poll lseek mmap", // 0
      "mprotect munmap brk rt_sigaction rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv", // 10
      "writev access pipe select sched_yield mremap msync mincore madvise shmget", // 20
      "shmat shmctl dup dup2 pause nanosleep getitimer alarm setitimer getpid", // 30
      "sendfile socket connect accept sendto recvfrom sendmsg recvmsg shutdown bind", // 40
      "listen getsockname getpeername socketpair setsockopt getsockopt clone fork vfork execve", // 50
      "exit wait4 kill uname semget semop semctl shmdt msgget msgsnd", // 60
      "msgrcv msgctl fcntl flock fsync fdatasync truncate ftruncate getdents getcwd", // 70
      "chdir fchdir rename mkdir rmdir creat link unlink symlink readlink", // 80
      "chmod fchmod chown fchown lchown umask gettimeofday getrlimit getrusage sysinfo", // 90
      "times ptrace getuid syslog getgid setuid setgid geteuid getegid setpgid", // 100
      "getppid getpgrp setsid setreuid setregid getgroups setgroups setresuid getresuid setresgid", // 110
      "getresgid getpgid setfsuid setfsgid getsid capget capset rt_sigpending rt_sigtimedwait rt_sigqueueinfo", // 120
      "rt_sigsuspend sigaltstack utime mknod uselib personality ustat statfs fstatfs sysfs", // 130
      "getpriority setpriority sched_setparam sched_getparam sched_setscheduler sched_getscheduler sched_get_priority_max sched_get_priority_min sched_rr_get_interval mlock", // 140
      "munlock mlockall munlockall vhangup modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex", // 150
      "setrlimit chroot sync acct settimeofday mount umount2 swapon swapoff reboot", // 160
      "sethostname setdomainname iopl ioperm create_module init_module delete_module get_kernel_syms query_module quotactl", // 170
      "nfsservctl getpmsg putpmsg afs_syscall tuxcall security gettid readahead setxattr lsetxattr", // 180
      "fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr", // 190
      "tkill time futex sched_setaffinity sched_getaffinity set_thread_area io_setup io_destroy io_getevents io_submit", // 200
      "io_cancel get_thread_area lookup_dcookie epoll_create epoll_ctl_old epoll_wait_old remap_file_pages getdents64 set_tid_address restart_syscall", // 210
      "semtimedop fadvise64 timer_create timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres", // 220
      "clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes vserver mbind set_mempolicy get_mempolicy", // 230
      "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr kexec_load waitid add_key request_key", // 240
      "keyctl ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat", // 250
      "fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat", // 260
      "pselect6 ppoll unshare set_robust_list get_robust_list splice tee sync_file_range vmsplice move_pages", // 270
      "utimensat epoll_pwait signalfd timerfd_create eventfd fallocate timerfd_settime timerfd_gettime accept4 signalfd4", // 280
      "eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open recvmmsg", // 290
      "fanotify_init fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg setns getcpu", // 300
      "process_vm_readv process_vm_writev kcmp finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create", // 310
      "kexec_file_load bpf execveat userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect", // 320
      "pkey_alloc pkey_free statx io_pgetevents rseq", // 330
    ]],
    [424, [
      "pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick", // 424
      "pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd", // 434
      "landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack", // 444
      "futex_wake futex_wait futex_requeue", // 454
    ]],
  ],
  // x86: 446 syscalls
  x86: [
    [0, [
      "restart_syscall exit fork read write open close waitpid creat link", // 0
      "unlink execve chdir time mknod chmod lchown break oldstat lseek", // 10
      "getpid mount umount setuid getuid stime ptrace alarm oldfstat pause", // 20
      "utime stty gtty access nice ftime sync kill rename mkdir", // 30
      "rmdir dup pipe times prof brk setgid getgid signal geteuid", // 40
      "getegid acct umount2 lock ioctl fcntl mpx setpgid ulimit oldolduname", // 50
      "umask chroot ustat dup2 getppid getpgrp setsid sigaction sgetmask ssetmask", // 60
      "setreuid setregid sigsuspend sigpending sethostname setrlimit getrlimit getrusage gettimeofday settimeofday", // 70
      "getgroups setgroups select symlink oldlstat readlink uselib swapon reboot readdir", // 80
      "mmap munmap truncate ftruncate fchmod fchown getpriority setpriority profil statfs", // 90
      "fstatfs ioperm socketcall syslog setitimer getitimer stat lstat fstat olduname", // 100
      "iopl vhangup idle vm86old wait4 swapoff sysinfo ipc fsync sigreturn", // 110
      "clone setdomainname uname modify_ldt adjtimex mprotect sigprocmask create_module init_module delete_module", // 120
      "get_kernel_syms quotactl getpgid fchdir bdflush sysfs personality afs_syscall setfsuid setfsgid", // 130
      "_llseek getdents _newselect flock msync readv writev getsid fdatasync _sysctl", // 140
      "mlock munlock mlockall munlockall sched_setparam sched_getparam sched_setscheduler sched_getscheduler sched_yield sched_get_priority_max", // 150
      "sched_get_priority_min sched_rr_get_interval nanosleep mremap setresuid getresuid vm86 query_module poll nfsservctl", // 160
      "setresgid getresgid prctl rt_sigreturn rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend", // 170
      "pread64 pwrite64 chown getcwd capget capset sigaltstack sendfile getpmsg putpmsg", // 180
      "vfork ugetrlimit mmap2 truncate64 ftruncate64 stat64 lstat64 fstat64 lchown32 getuid32", // 190
      "getgid32 geteuid32 getegid32 setreuid32 setregid32 getgroups32 setgroups32 fchown32 setresuid32 getresuid32", // 200
      "setresgid32 getresgid32 chown32 setuid32 setgid32 setfsuid32 setfsgid32 pivot_root mincore madvise", // 210
      "getdents64 fcntl64 - - gettid readahead setxattr lsetxattr fsetxattr getxattr", // 220
      "lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr tkill sendfile64", // 230
      "futex sched_setaffinity sched_getaffinity set_thread_area get_thread_area io_setup io_destroy io_getevents io_submit io_cancel", // 240
      "fadvise64 - exit_group lookup_dcookie epoll_create epoll_ctl epoll_wait remap_file_pages set_tid_address timer_create", // 250
      "timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres clock_nanosleep statfs64 fstatfs64", // 260
      "tgkill utimes fadvise64_64 vserver mbind get_mempolicy set_mempolicy mq_open mq_unlink mq_timedsend", // 270
      "mq_timedreceive mq_notify mq_getsetattr kexec_load waitid - add_key request_key keyctl ioprio_set", // 280
      "ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat fchownat futimesat", // 290
      "fstatat64 unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat pselect6 ppoll", // 300
      "unshare set_robust_list get_robust_list splice sync_file_range tee vmsplice move_pages getcpu epoll_pwait", // 310
      "utimensat signalfd timerfd_create eventfd fallocate timerfd_settime timerfd_gettime signalfd4 eventfd2 epoll_create1", // 320
      "dup3 pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open recvmmsg fanotify_init fanotify_mark", // 330
      "prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg setns process_vm_readv process_vm_writev kcmp", // 340
      "finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create bpf execveat socket", // 350
      "socketpair bind connect listen accept4 getsockopt setsockopt getsockname getpeername sendto", // 360
      "sendmsg recvfrom recvmsg shutdown userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2", // 370
      "pkey_mprotect pkey_alloc pkey_free statx arch_prctl io_pgetevents rseq - - -", // 380
      "- - - semget semctl shmget shmctl shmat shmdt msgget", // 390
      "msgsnd msgrcv msgctl clock_gettime64 clock_settime64 clock_adjtime64 clock_getres_time64 clock_nanosleep_time64 timer_gettime64 timer_settime64", // 400
      "timerfd_gettime64 timerfd_settime64 utimensat_time64 pselect6_time64 ppoll_time64 - io_pgetevents_time64 recvmmsg_time64 mq_timedsend_time64 mq_timedreceive_time64", // 410
      "semtimedop_time64 rt_sigtimedwait_time64 futex_time64 sched_rr_get_interval_time64 pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount", // 420
      "fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2", // 430
      "process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv", // 440
      "set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue", // 450
    ]],
  ],
  // x32: 356 syscalls
  x32: [
    [0x40000000 + 0, [
      "read write open close stat fstat lstat poll lseek mmap", // 0x40000000 + 0
      "mprotect munmap brk - rt_sigprocmask - - pread64 pwrite64 -", // 0x40000000 + 10
      "- access pipe select sched_yield mremap msync mincore madvise shmget", // 0x40000000 + 20
      "shmat shmctl dup dup2 pause nanosleep getitimer alarm setitimer getpid", // 0x40000000 + 30
      "sendfile socket connect accept sendto - - - shutdown bind", // 0x40000000 + 40
      "listen getsockname getpeername socketpair - - clone fork vfork -", // 0x40000000 + 50
      "exit wait4 kill uname semget semop semctl shmdt msgget msgsnd", // 0x40000000 + 60
      "msgrcv msgctl fcntl flock fsync fdatasync truncate ftruncate getdents getcwd", // 0x40000000 + 70
      "chdir fchdir rename mkdir rmdir creat link unlink symlink readlink", // 0x40000000 + 80
      "chmod fchmod chown fchown lchown umask gettimeofday getrlimit getrusage sysinfo", // 0x40000000 + 90
      "times - getuid syslog getgid setuid setgid geteuid getegid setpgid", // 0x40000000 + 100
      "getppid getpgrp setsid setreuid setregid getgroups setgroups setresuid getresuid setresgid", // 0x40000000 + 110
      "getresgid getpgid setfsuid setfsgid getsid capget capset - - -", // 0x40000000 + 120
      "rt_sigsuspend - utime mknod - personality ustat statfs fstatfs sysfs", // 0x40000000 + 130
      "getpriority setpriority sched_setparam sched_getparam sched_setscheduler sched_getscheduler sched_get_priority_max sched_get_priority_min sched_rr_get_interval mlock", // 0x40000000 + 140
      "munlock mlockall munlockall vhangup modify_ldt pivot_root - prctl arch_prctl adjtimex", // 0x40000000 + 150
      "setrlimit chroot sync acct settimeofday mount umount2 swapon swapoff reboot", // 0x40000000 + 160
      "sethostname setdomainname iopl ioperm - init_module delete_module - - quotactl", // 0x40000000 + 170
      "- getpmsg putpmsg afs_syscall tuxcall security gettid readahead setxattr lsetxattr", // 0x40000000 + 180
      "fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr", // 0x40000000 + 190
      "tkill time futex sched_setaffinity sched_getaffinity - - io_destroy io_getevents -", // 0x40000000 + 200
      "io_cancel - lookup_dcookie epoll_create - - remap_file_pages getdents64 set_tid_address restart_syscall", // 0x40000000 + 210
      "semtimedop fadvise64 - timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres", // 0x40000000 + 220
      "clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes - mbind set_mempolicy get_mempolicy", // 0x40000000 + 230
      "mq_open mq_unlink mq_timedsend mq_timedreceive - mq_getsetattr - - add_key request_key", // 0x40000000 + 240
      "keyctl ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat", // 0x40000000 + 250
      "fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat", // 0x40000000 + 260
      "pselect6 ppoll unshare - - splice tee sync_file_range - -", // 0x40000000 + 270
      "utimensat epoll_pwait signalfd timerfd_create eventfd fallocate timerfd_settime timerfd_gettime accept4 signalfd4", // 0x40000000 + 280
      "eventfd2 epoll_create1 dup3 pipe2 inotify_init1 - - - perf_event_open -", // 0x40000000 + 290
      "fanotify_init fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs - setns getcpu", // 0x40000000 + 300
      "- - kcmp finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create", // 0x40000000 + 310
      "kexec_file_load bpf - userfaultfd membarrier mlock2 copy_file_range - - pkey_mprotect", // 0x40000000 + 320
      "pkey_alloc pkey_free statx io_pgetevents rseq", // 0x40000000 + 330
    ]],
    [0x40000000 + 424, [
      "pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick", // 0x40000000 + 424
      "pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd", // 0x40000000 + 434
      "landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2 -", // 0x40000000 + 444
      "futex_wake futex_wait futex_requeue", // 0x40000000 + 454
    ]],
    [0x40000000 + 512, [
      "rt_sigaction rt_sigreturn ioctl readv writev recvfrom sendmsg recvmsg execve ptrace", // 0x40000000 + 512
      "rt_sigpending rt_sigtimedwait rt_sigqueueinfo sigaltstack timer_create mq_notify kexec_load waitid set_robust_list get_robust_list", // 0x40000000 + 522
      "vmsplice move_pages preadv pwritev rt_tgsigqueueinfo recvmmsg sendmmsg process_vm_readv process_vm_writev setsockopt", // 0x40000000 + 532
      "getsockopt io_setup io_submit execveat preadv2 pwritev2", // 0x40000000 + 542
    ]],
  ],
  // aarch64: 312 syscalls
  aarch64: [
    [0, [
      "io_setup io_destroy io_submit io_cancel io_getevents setxattr lsetxattr fsetxattr getxattr lgetxattr", // 0
      "fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr getcwd lookup_dcookie eventfd2", // 10
      "epoll_create1 epoll_ctl epoll_pwait dup dup3 fcntl inotify_init1 inotify_add_watch inotify_rm_watch ioctl", // 20
      "ioprio_set ioprio_get flock mknodat mkdirat unlinkat symlinkat linkat renameat umount2", // 30
      "mount pivot_root nfsservctl statfs fstatfs truncate ftruncate fallocate faccessat chdir", // 40
      "fchdir chroot fchmod fchmodat fchownat fchown openat close vhangup pipe2", // 50
      "quotactl getdents64 lseek read write readv writev pread64 pwrite64 preadv", // 60
      "pwritev sendfile pselect6 ppoll signalfd4 vmsplice splice tee readlinkat newfstatat", // 70
      "fstat sync fsync fdatasync sync_file_range timerfd_create timerfd_settime timerfd_gettime utimensat acct", // 80
      "capget capset personality exit exit_group waitid set_tid_address unshare futex set_robust_list", // 90
      "get_robust_list nanosleep getitimer setitimer kexec_load init_module delete_module timer_create timer_gettime timer_getoverrun", // 100
      "timer_settime timer_delete clock_settime clock_gettime clock_getres clock_nanosleep syslog ptrace sched_setparam sched_setscheduler", // 110
      "sched_getscheduler sched_getparam sched_setaffinity sched_getaffinity sched_yield sched_get_priority_max sched_get_priority_min sched_rr_get_interval restart_syscall kill", // 120
      "tkill tgkill sigaltstack rt_sigsuspend rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigreturn", // 130
      "setpriority getpriority reboot setregid setgid setreuid setuid setresuid getresuid setresgid", // 140
      "getresgid setfsuid setfsgid times setpgid getpgid getsid setsid getgroups setgroups", // 150
      "uname sethostname setdomainname getrlimit setrlimit getrusage umask prctl getcpu gettimeofday", // 160
      "settimeofday adjtimex getpid getppid getuid geteuid getgid getegid gettid sysinfo", // 170
      "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr msgget msgctl msgrcv msgsnd", // 180
      "semget semctl semtimedop semop shmget shmctl shmat shmdt socket socketpair", // 190
      "bind listen accept connect getsockname getpeername sendto recvfrom setsockopt getsockopt", // 200
      "shutdown sendmsg recvmsg readahead brk munmap mremap add_key request_key keyctl", // 210
      "clone execve mmap fadvise64 swapon swapoff mprotect msync mlock munlock", // 220
      "mlockall munlockall mincore madvise remap_file_pages mbind get_mempolicy set_mempolicy migrate_pages move_pages", // 230
      "rt_tgsigqueueinfo perf_event_open accept4 recvmmsg", // 240
    ]],
    [260, [
      "wait4 prlimit64 fanotify_init fanotify_mark name_to_handle_at open_by_handle_at clock_adjtime syncfs setns sendmmsg", // 260
      "process_vm_readv process_vm_writev kcmp finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create", // 270
      "bpf execveat userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc", // 280
      "pkey_free statx io_pgetevents rseq kexec_file_load", // 290
    ]],
    [424, [
      "pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick", // 424
      "pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd", // 434
      "landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack", // 444
      "futex_wake futex_wait futex_requeue", // 454
    ]],
  ],
  // arm: 415 syscalls
  arm: [
    [0, [
      "restart_syscall exit fork read write open close - creat link", // 0
      "unlink execve chdir - mknod chmod lchown - - lseek", // 10
      "getpid mount - setuid getuid - ptrace - - pause", // 20
      "- - - access nice - sync kill rename mkdir", // 30
      "rmdir dup pipe times - brk setgid getgid - geteuid", // 40
      "getegid acct umount2 - ioctl fcntl - setpgid - -", // 50
      "umask chroot ustat dup2 getppid getpgrp setsid sigaction - -", // 60
      "setreuid setregid sigsuspend sigpending sethostname setrlimit - getrusage gettimeofday settimeofday", // 70
      "getgroups setgroups - symlink - readlink uselib swapon reboot -", // 80
      "- munmap truncate ftruncate fchmod fchown getpriority setpriority - statfs", // 90
      "fstatfs - - syslog setitimer getitimer stat lstat fstat -", // 100
      "- vhangup - - wait4 swapoff sysinfo - fsync sigreturn", // 110
      "clone setdomainname uname - adjtimex mprotect sigprocmask - init_module delete_module", // 120
      "- quotactl getpgid fchdir bdflush sysfs personality - setfsuid setfsgid", // 130
      "_llseek getdents _newselect flock msync readv writev getsid fdatasync _sysctl", // 140
      "mlock munlock mlockall munlockall sched_setparam sched_getparam sched_setscheduler sched_getscheduler sched_yield sched_get_priority_max", // 150
      "sched_get_priority_min sched_rr_get_interval nanosleep mremap setresuid getresuid - - poll nfsservctl", // 160
      "setresgid getresgid prctl rt_sigreturn rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend", // 170
      "pread64 pwrite64 chown getcwd capget capset sigaltstack sendfile - -", // 180
      "vfork ugetrlimit mmap2 truncate64 ftruncate64 stat64 lstat64 fstat64 lchown32 getuid32", // 190
      "getgid32 geteuid32 getegid32 setreuid32 setregid32 getgroups32 setgroups32 fchown32 setresuid32 getresuid32", // 200
      "setresgid32 getresgid32 chown32 setuid32 setgid32 setfsuid32 setfsgid32 getdents64 pivot_root mincore", // 210
      "madvise fcntl64 - - gettid readahead setxattr lsetxattr fsetxattr getxattr", // 220
      "lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr tkill sendfile64", // 230
      "futex sched_setaffinity sched_getaffinity io_setup io_destroy io_getevents io_submit io_cancel exit_group lookup_dcookie", // 240
      "epoll_create epoll_ctl epoll_wait remap_file_pages - - set_tid_address timer_create timer_settime timer_gettime", // 250
      "timer_getoverrun timer_delete clock_settime clock_gettime clock_getres clock_nanosleep statfs64 fstatfs64 tgkill utimes", // 260
      "arm_fadvise64_64 pciconfig_iobase pciconfig_read pciconfig_write mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr", // 270
      "waitid socket bind connect listen accept getsockname getpeername socketpair send", // 280
      "sendto recv recvfrom shutdown setsockopt getsockopt sendmsg recvmsg semop semget", // 290
      "semctl msgsnd msgrcv msgget msgctl shmat shmdt shmget shmctl add_key", // 300
      "request_key keyctl semtimedop vserver ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch mbind", // 310
      "get_mempolicy set_mempolicy openat mkdirat mknodat fchownat futimesat fstatat64 unlinkat renameat", // 320
      "linkat symlinkat readlinkat fchmodat faccessat pselect6 ppoll unshare set_robust_list get_robust_list", // 330
      "splice arm_sync_file_range tee vmsplice move_pages getcpu epoll_pwait kexec_load utimensat signalfd", // 340
      "timerfd_create eventfd fallocate timerfd_settime timerfd_gettime signalfd4 eventfd2 epoll_create1 dup3 pipe2", // 350
      "inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open recvmmsg accept4 fanotify_init fanotify_mark prlimit64", // 360
      "name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg setns process_vm_readv process_vm_writev kcmp finit_module", // 370
      "sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create bpf execveat userfaultfd membarrier", // 380
      "mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free statx rseq io_pgetevents", // 390
      "migrate_pages kexec_file_load - clock_gettime64 clock_settime64 clock_adjtime64 clock_getres_time64 clock_nanosleep_time64 timer_gettime64 timer_settime64", // 400
      "timerfd_gettime64 timerfd_settime64 utimensat_time64 pselect6_time64 ppoll_time64 - io_pgetevents_time64 recvmmsg_time64 mq_timedsend_time64 mq_timedreceive_time64", // 410
      "semtimedop_time64 rt_sigtimedwait_time64 futex_time64 sched_rr_get_interval_time64 pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount", // 420
      "fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2", // 430
      "process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule landlock_restrict_self - process_mrelease futex_waitv", // 440
      "set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue", // 450
    ]],
    [0xf0001, [
      "breakpoint cacheflush usr26 usr32 set_tls get_tls", // 0xf0001
    ]],
  ],
  // ppc64le: 409 syscalls
  ppc64le: [
    [0, [
      "restart_syscall exit fork read write open close waitpid creat link", // 0
      "unlink execve chdir time mknod chmod lchown break oldstat lseek", // 10
      "getpid mount umount setuid getuid stime ptrace alarm oldfstat pause", // 20
      "utime stty gtty access nice ftime sync kill rename mkdir", // 30
      "rmdir dup pipe times prof brk setgid getgid signal geteuid", // 40
      "getegid acct umount2 lock ioctl fcntl mpx setpgid ulimit oldolduname", // 50
      "umask chroot ustat dup2 getppid getpgrp setsid sigaction sgetmask ssetmask", // 60
      "setreuid setregid sigsuspend sigpending sethostname setrlimit getrlimit getrusage gettimeofday settimeofday", // 70
      "getgroups setgroups select symlink oldlstat readlink uselib swapon reboot readdir", // 80
      "mmap munmap truncate ftruncate fchmod fchown getpriority setpriority profil statfs", // 90
      "fstatfs ioperm socketcall syslog setitimer getitimer stat lstat fstat olduname", // 100
      "iopl vhangup idle vm86 wait4 swapoff sysinfo ipc fsync sigreturn", // 110
      "clone setdomainname uname modify_ldt adjtimex mprotect sigprocmask create_module init_module delete_module", // 120
      "get_kernel_syms quotactl getpgid fchdir bdflush sysfs personality afs_syscall setfsuid setfsgid", // 130
      "_llseek getdents _newselect flock msync readv writev getsid fdatasync _sysctl", // 140
      "mlock munlock mlockall munlockall sched_setparam sched_getparam sched_setscheduler sched_getscheduler sched_yield sched_get_priority_max", // 150
      "sched_get_priority_min sched_rr_get_interval nanosleep mremap setresuid getresuid query_module poll nfsservctl setresgid", // 160
      "getresgid prctl rt_sigreturn rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend pread64", // 170
      "pwrite64 chown getcwd capget capset sigaltstack sendfile getpmsg putpmsg vfork", // 180
      "ugetrlimit readahead - - - - - - pciconfig_read pciconfig_write", // 190
      "pciconfig_iobase multiplexer getdents64 pivot_root - madvise mincore gettid tkill setxattr", // 200
      "lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr", // 210
      "fremovexattr futex sched_setaffinity sched_getaffinity - tuxcall - io_setup io_destroy io_getevents", // 220
      "io_submit io_cancel set_tid_address fadvise64 exit_group lookup_dcookie epoll_create epoll_ctl epoll_wait remap_file_pages", // 230
      "timer_create timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres clock_nanosleep swapcontext", // 240
      "tgkill utimes statfs64 fstatfs64 - rtas sys_debug_setcontext - migrate_pages mbind", // 250
      "get_mempolicy set_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr kexec_load add_key", // 260
      "request_key keyctl waitid ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch spu_run spu_create", // 270
      "pselect6 ppoll unshare splice tee vmsplice openat mkdirat mknodat fchownat", // 280
      "futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat get_robust_list", // 290
      "set_robust_list move_pages getcpu epoll_pwait utimensat signalfd timerfd_create eventfd sync_file_range2 fallocate", // 300
      "subpage_prot timerfd_settime timerfd_gettime signalfd4 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 perf_event_open", // 310
      "preadv pwritev rt_tgsigqueueinfo fanotify_init fanotify_mark prlimit64 socket bind connect listen", // 320
      "accept getsockname getpeername socketpair send sendto recv recvfrom shutdown setsockopt", // 330
      "getsockopt sendmsg recvmsg recvmmsg accept4 name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg", // 340
      "setns process_vm_readv process_vm_writev finit_module kcmp sched_setattr sched_getattr renameat2 seccomp getrandom", // 350
      "memfd_create bpf execveat switch_endian userfaultfd membarrier - - - -", // 360
      "- - - - - - - - mlock2 copy_file_range", // 370
      "preadv2 pwritev2 kexec_file_load statx pkey_alloc pkey_free pkey_mprotect rseq io_pgetevents -", // 380
      "- - semtimedop semget semctl shmget shmctl shmat shmdt msgget", // 390
      "msgsnd msgrcv msgctl", // 400
    ]],
    [424, [
      "pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick", // 424
      "pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd", // 434
      "landlock_create_ruleset landlock_add_rule landlock_restrict_self - process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack", // 444
      "futex_wake futex_wait futex_requeue", // 454
    ]],
  ],
  // ppc64: 409 syscalls
  ppc64: [
    [0, [
      "restart_syscall exit fork read write open close waitpid creat link", // 0
      "unlink execve chdir time mknod chmod lchown break oldstat lseek", // 10
      "getpid mount umount setuid getuid stime ptrace alarm oldfstat pause", // 20
      "utime stty gtty access nice ftime sync kill rename mkdir", // 30
      "rmdir dup pipe times prof brk setgid getgid signal geteuid", // 40
      "getegid acct umount2 lock ioctl fcntl mpx setpgid ulimit oldolduname", // 50
      "umask chroot ustat dup2 getppid getpgrp setsid sigaction sgetmask ssetmask", // 60
      "setreuid setregid sigsuspend sigpending sethostname setrlimit getrlimit getrusage gettimeofday settimeofday", // 70
      "getgroups setgroups select symlink oldlstat readlink uselib swapon reboot readdir", // 80
      "mmap munmap truncate ftruncate fchmod fchown getpriority setpriority profil statfs", // 90
      "fstatfs ioperm socketcall syslog setitimer getitimer stat lstat fstat olduname", // 100
      "iopl vhangup idle vm86 wait4 swapoff sysinfo ipc fsync sigreturn", // 110
      "clone setdomainname uname modify_ldt adjtimex mprotect sigprocmask create_module init_module delete_module", // 120
      "get_kernel_syms quotactl getpgid fchdir bdflush sysfs personality afs_syscall setfsuid setfsgid", // 130
      "_llseek getdents _newselect flock msync readv writev getsid fdatasync _sysctl", // 140
      "mlock munlock mlockall munlockall sched_setparam sched_getparam sched_setscheduler sched_getscheduler sched_yield sched_get_priority_max", // 150
      "sched_get_priority_min sched_rr_get_interval nanosleep mremap setresuid getresuid query_module poll nfsservctl setresgid", // 160
      "getresgid prctl rt_sigreturn rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend pread64", // 170
      "pwrite64 chown getcwd capget capset sigaltstack sendfile getpmsg putpmsg vfork", // 180
      "ugetrlimit readahead - - - - - - pciconfig_read pciconfig_write", // 190
      "pciconfig_iobase multiplexer getdents64 pivot_root - madvise mincore gettid tkill setxattr", // 200
      "lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr", // 210
      "fremovexattr futex sched_setaffinity sched_getaffinity - tuxcall - io_setup io_destroy io_getevents", // 220
      "io_submit io_cancel set_tid_address fadvise64 exit_group lookup_dcookie epoll_create epoll_ctl epoll_wait remap_file_pages", // 230
      "timer_create timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres clock_nanosleep swapcontext", // 240
      "tgkill utimes statfs64 fstatfs64 - rtas sys_debug_setcontext - migrate_pages mbind", // 250
      "get_mempolicy set_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr kexec_load add_key", // 260
      "request_key keyctl waitid ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch spu_run spu_create", // 270
      "pselect6 ppoll unshare splice tee vmsplice openat mkdirat mknodat fchownat", // 280
      "futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat get_robust_list", // 290
      "set_robust_list move_pages getcpu epoll_pwait utimensat signalfd timerfd_create eventfd sync_file_range2 fallocate", // 300
      "subpage_prot timerfd_settime timerfd_gettime signalfd4 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 perf_event_open", // 310
      "preadv pwritev rt_tgsigqueueinfo fanotify_init fanotify_mark prlimit64 socket bind connect listen", // 320
      "accept getsockname getpeername socketpair send sendto recv recvfrom shutdown setsockopt", // 330
      "getsockopt sendmsg recvmsg recvmmsg accept4 name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg", // 340
      "setns process_vm_readv process_vm_writev finit_module kcmp sched_setattr sched_getattr renameat2 seccomp getrandom", // 350
      "memfd_create bpf execveat switch_endian userfaultfd membarrier - - - -", // 360
      "- - - - - - - - mlock2 copy_file_range", // 370
      "preadv2 pwritev2 kexec_file_load statx pkey_alloc pkey_free pkey_mprotect rseq io_pgetevents -", // 380
      "- - semtimedop semget semctl shmget shmctl shmat shmdt msgget", // 390
      "msgsnd msgrcv msgctl", // 400
    ]],
    [424, [
      "pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick", // 424
      "pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd", // 434
      "landlock_create_ruleset landlock_add_rule landlock_restrict_self - process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack", // 444
      "futex_wake futex_wait futex_requeue", // 454
    ]],
  ],
  // s390x: 375 syscalls
  s390x: [
    [1, [
      "exit fork read write open close restart_syscall creat link unlink", // 1
      "execve chdir - mknod chmod - - - lseek getpid", // 11
      "mount umount - - - ptrace alarm - pause utime", // 21
      "- - access nice - sync kill rename mkdir rmdir", // 31
      "dup pipe times - brk - - signal - -", // 41
      "acct umount2 - ioctl fcntl - setpgid - - umask", // 51
      "chroot ustat dup2 getppid getpgrp setsid sigaction - - -", // 61
      "- sigsuspend sigpending sethostname setrlimit - getrusage gettimeofday settimeofday -", // 71
      "- - symlink - readlink uselib swapon reboot readdir mmap", // 81
      "munmap truncate ftruncate fchmod - getpriority setpriority - statfs fstatfs", // 91
      "- socketcall syslog setitimer getitimer stat lstat fstat - lookup_dcookie", // 101
      "vhangup idle - wait4 swapoff sysinfo ipc fsync sigreturn clone", // 111
      "setdomainname uname - adjtimex mprotect sigprocmask create_module init_module delete_module get_kernel_syms", // 121
      "quotactl getpgid fchdir bdflush sysfs personality afs_syscall - - -", // 131
      "getdents select flock msync readv writev getsid fdatasync _sysctl mlock", // 141
      "munlock mlockall munlockall sched_setparam sched_getparam sched_setscheduler sched_getscheduler sched_yield sched_get_priority_max sched_get_priority_min", // 151
      "sched_rr_get_interval nanosleep mremap - - - query_module poll nfsservctl -", // 161
      "- prctl rt_sigreturn rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend pread64", // 171
      "pwrite64 - getcwd capget capset sigaltstack sendfile getpmsg putpmsg vfork", // 181
      "getrlimit - - - - - - lchown getuid getgid", // 191
      "geteuid getegid setreuid setregid getgroups setgroups fchown setresuid getresuid setresgid", // 201
      "getresgid chown setuid setgid setfsuid setfsgid pivot_root mincore madvise getdents64", // 211
      "- readahead - setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr", // 221
      "llistxattr flistxattr removexattr lremovexattr fremovexattr gettid tkill futex sched_setaffinity sched_getaffinity", // 231
      "tgkill - io_setup io_destroy io_getevents io_submit io_cancel exit_group epoll_create epoll_ctl", // 241
      "epoll_wait set_tid_address fadvise64 timer_create timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime", // 251
      "clock_getres clock_nanosleep - - statfs64 fstatfs64 remap_file_pages mbind get_mempolicy set_mempolicy", // 261
      "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr kexec_load add_key request_key keyctl", // 271
      "waitid ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat", // 281
      "fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat", // 291
      "pselect6 ppoll unshare set_robust_list get_robust_list splice sync_file_range tee vmsplice move_pages", // 301
      "getcpu epoll_pwait utimes fallocate utimensat signalfd timerfd eventfd timerfd_create timerfd_settime", // 311
      "timerfd_gettime signalfd4 eventfd2 inotify_init1 pipe2 dup3 epoll_create1 preadv pwritev rt_tgsigqueueinfo", // 321
      "perf_event_open fanotify_init fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs setns process_vm_readv", // 331
      "process_vm_writev s390_runtime_instr kcmp finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create", // 341
      "bpf s390_pci_mmio_write s390_pci_mmio_read execveat userfaultfd membarrier recvmmsg sendmmsg socket socketpair", // 351
      "bind connect listen accept4 getsockopt setsockopt getsockname getpeername sendto sendmsg", // 361
      "recvfrom recvmsg shutdown mlock2 copy_file_range preadv2 pwritev2 s390_guarded_storage statx s390_sthyi", // 371
      "kexec_file_load io_pgetevents rseq pkey_mprotect pkey_alloc pkey_free - - - -", // 381
      "- semtimedop semget semctl shmget shmctl shmat shmdt msgget msgsnd", // 391
      "msgrcv msgctl", // 401
    ]],
    [424, [
      "pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick", // 424
      "pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd", // 434
      "landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack", // 444
      "futex_wake futex_wait futex_requeue", // 454
    ]],
  ],
  // s390: 427 syscalls
  s390: [
    [1, [
      "exit fork read write open close restart_syscall creat link unlink", // 1
      "execve chdir time mknod chmod lchown - - lseek getpid", // 11
      "mount umount setuid getuid stime ptrace alarm - pause utime", // 21
      "- - access nice - sync kill rename mkdir rmdir", // 31
      "dup pipe times - brk setgid getgid signal geteuid getegid", // 41
      "acct umount2 - ioctl fcntl - setpgid - - umask", // 51
      "chroot ustat dup2 getppid getpgrp setsid sigaction - - setreuid", // 61
      "setregid sigsuspend sigpending sethostname setrlimit getrlimit getrusage gettimeofday settimeofday getgroups", // 71
      "setgroups - symlink - readlink uselib swapon reboot readdir mmap", // 81
      "munmap truncate ftruncate fchmod fchown getpriority setpriority - statfs fstatfs", // 91
      "ioperm socketcall syslog setitimer getitimer stat lstat fstat - lookup_dcookie", // 101
      "vhangup idle - wait4 swapoff sysinfo ipc fsync sigreturn clone", // 111
      "setdomainname uname - adjtimex mprotect sigprocmask create_module init_module delete_module get_kernel_syms", // 121
      "quotactl getpgid fchdir bdflush sysfs personality afs_syscall setfsuid setfsgid _llseek", // 131
      "getdents _newselect flock msync readv writev getsid fdatasync _sysctl mlock", // 141
      "munlock mlockall munlockall sched_setparam sched_getparam sched_setscheduler sched_getscheduler sched_yield sched_get_priority_max sched_get_priority_min", // 151
      "sched_rr_get_interval nanosleep mremap setresuid getresuid - query_module poll nfsservctl setresgid", // 161
      "getresgid prctl rt_sigreturn rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend pread64", // 171
      "pwrite64 chown getcwd capget capset sigaltstack sendfile getpmsg putpmsg vfork", // 181
      "ugetrlimit mmap2 truncate64 ftruncate64 stat64 lstat64 fstat64 lchown32 getuid32 getgid32", // 191
      "geteuid32 getegid32 setreuid32 setregid32 getgroups32 setgroups32 fchown32 setresuid32 getresuid32 setresgid32", // 201
      "getresgid32 chown32 setuid32 setgid32 setfsuid32 setfsgid32 pivot_root mincore madvise getdents64", // 211
      "fcntl64 readahead sendfile64 setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr", // 221
      "llistxattr flistxattr removexattr lremovexattr fremovexattr gettid tkill futex sched_setaffinity sched_getaffinity", // 231
      "tgkill - io_setup io_destroy io_getevents io_submit io_cancel exit_group epoll_create epoll_ctl", // 241
      "epoll_wait set_tid_address fadvise64 timer_create timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime", // 251
      "clock_getres clock_nanosleep - fadvise64_64 statfs64 fstatfs64 remap_file_pages mbind get_mempolicy set_mempolicy", // 261
      "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr kexec_load add_key request_key keyctl", // 271
      "waitid ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat", // 281
      "fchownat futimesat fstatat64 unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat", // 291
      "pselect6 ppoll unshare set_robust_list get_robust_list splice sync_file_range tee vmsplice move_pages", // 301
      "getcpu epoll_pwait utimes fallocate utimensat signalfd timerfd eventfd timerfd_create timerfd_settime", // 311
      "timerfd_gettime signalfd4 eventfd2 inotify_init1 pipe2 dup3 epoll_create1 preadv pwritev rt_tgsigqueueinfo", // 321
      "perf_event_open fanotify_init fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs setns process_vm_readv", // 331
      "process_vm_writev s390_runtime_instr kcmp finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create", // 341
      "bpf s390_pci_mmio_write s390_pci_mmio_read execveat userfaultfd membarrier recvmmsg sendmmsg socket socketpair", // 351
      "bind connect listen accept4 getsockopt setsockopt getsockname getpeername sendto sendmsg", // 361
      "recvfrom recvmsg shutdown mlock2 copy_file_range preadv2 pwritev2 s390_guarded_storage statx s390_sthyi", // 371
      "kexec_file_load io_pgetevents rseq pkey_mprotect pkey_alloc pkey_free - - - -", // 381
      "- - semget semctl shmget shmctl shmat shmdt msgget msgsnd", // 391
      "msgrcv msgctl clock_gettime64 clock_settime64 clock_adjtime64 clock_getres_time64 clock_nanosleep_time64 timer_gettime64 timer_settime64 timerfd_gettime64", // 401
      "timerfd_settime64 utimensat_time64 pselect6_time64 ppoll_time64 - io_pgetevents_time64 recvmmsg_time64 mq_timedsend_time64 mq_timedreceive_time64 semtimedop_time64", // 411
      "rt_sigtimedwait_time64 futex_time64 sched_rr_get_interval_time64 pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen", // 421
      "fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise", // 431
      "epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node", // 441
      "cachestat fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue", // 451
    ]],
  ],
  // riscv64: 312 syscalls
  riscv64: [
    [0, [
      "io_setup io_destroy io_submit io_cancel io_getevents setxattr lsetxattr fsetxattr getxattr lgetxattr", // 0
      "fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr getcwd lookup_dcookie eventfd2", // 10
      "epoll_create1 epoll_ctl epoll_pwait dup dup3 fcntl inotify_init1 inotify_add_watch inotify_rm_watch ioctl", // 20
      "ioprio_set ioprio_get flock mknodat mkdirat unlinkat symlinkat linkat - umount2", // 30
      "mount pivot_root nfsservctl statfs fstatfs truncate ftruncate fallocate faccessat chdir", // 40
      "fchdir chroot fchmod fchmodat fchownat fchown openat close vhangup pipe2", // 50
      "quotactl getdents64 lseek read write readv writev pread64 pwrite64 preadv", // 60
      "pwritev sendfile pselect6 ppoll signalfd4 vmsplice splice tee readlinkat newfstatat", // 70
      "fstat sync fsync fdatasync sync_file_range timerfd_create timerfd_settime timerfd_gettime utimensat acct", // 80
      "capget capset personality exit exit_group waitid set_tid_address unshare futex set_robust_list", // 90
      "get_robust_list nanosleep getitimer setitimer kexec_load init_module delete_module timer_create timer_gettime timer_getoverrun", // 100
      "timer_settime timer_delete clock_settime clock_gettime clock_getres clock_nanosleep syslog ptrace sched_setparam sched_setscheduler", // 110
      "sched_getscheduler sched_getparam sched_setaffinity sched_getaffinity sched_yield sched_get_priority_max sched_get_priority_min sched_rr_get_interval restart_syscall kill", // 120
      "tkill tgkill sigaltstack rt_sigsuspend rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigreturn", // 130
      "setpriority getpriority reboot setregid setgid setreuid setuid setresuid getresuid setresgid", // 140
      "getresgid setfsuid setfsgid times setpgid getpgid getsid setsid getgroups setgroups", // 150
      "uname sethostname setdomainname getrlimit setrlimit getrusage umask prctl getcpu gettimeofday", // 160
      "settimeofday adjtimex getpid getppid getuid geteuid getgid getegid gettid sysinfo", // 170
      "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr msgget msgctl msgrcv msgsnd", // 180
      "semget semctl semtimedop semop shmget shmctl shmat shmdt socket socketpair", // 190
      "bind listen accept connect getsockname getpeername sendto recvfrom setsockopt getsockopt", // 200
      "shutdown sendmsg recvmsg readahead brk munmap mremap add_key request_key keyctl", // 210
      "clone execve mmap fadvise64 swapon swapoff mprotect msync mlock munlock", // 220
      "mlockall munlockall mincore madvise remap_file_pages mbind get_mempolicy set_mempolicy migrate_pages move_pages", // 230
      "rt_tgsigqueueinfo perf_event_open accept4 recvmmsg - - - - - -", // 240
      "- - - - - - - - - riscv_flush_icache", // 250
      "wait4 prlimit64 fanotify_init fanotify_mark name_to_handle_at open_by_handle_at clock_adjtime syncfs setns sendmmsg", // 260
      "process_vm_readv process_vm_writev kcmp finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create", // 270
      "bpf execveat userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc", // 280
      "pkey_free statx io_pgetevents rseq kexec_file_load", // 290
    ]],
    [424, [
      "pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick", // 424
      "pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr quotactl_fd", // 434
      "landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack", // 444
      "futex_wake futex_wait futex_requeue", // 454
    ]],
  ],
};
