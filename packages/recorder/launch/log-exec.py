#!/usr/bin/python3
"""Runs a command for secprof's audit-log recorder.

Usage: log-exec.py [--session-only] LOGINUID STATUS_FD CMD [ARG...]

1. Writes LOGINUID to /proc/self/loginuid: the kernel starts a new audit session, and every
   audit record of this process and all its descendants carries that auid and session id, a key
   no other process on the machine shares.
2. Writes "ses=<id>" to STATUS_FD and closes it, so secprof knows the key before CMD runs.
3. Installs a one-instruction seccomp filter that returns SECCOMP_RET_LOG for every syscall:
   each distinct syscall of CMD and its descendants reaches the audit log as a SECCOMP record.
4. Execs CMD (PATH search, as a shell would). Exit 127 if it is not found, 126 if not executable.

With --session-only there is no filter (step 3): used to run an OCI runtime whose container
installs its own log filter, so the runtime's records carry this session.

Nothing runs between installing the filter and exec but the execve attempts themselves, so the
recording holds only what CMD does (plus execve, which CMD needed to start).
"""
import ctypes
import os
import sys

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
BPF_RET_K = 0x06
SECCOMP_RET_LOG = 0x7FFC0000


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def main() -> int:
    args = sys.argv[1:]
    session_only = bool(args) and args[0] == "--session-only"
    if session_only:
        args = args[1:]
    if len(args) < 3:
        sys.stderr.write("usage: log-exec.py [--session-only] LOGINUID STATUS_FD CMD [ARG...]\n")
        return 2
    loginuid, status_fd, argv = args[0], int(args[1]), args[2:]
    try:
        with open("/proc/self/loginuid", "w") as f:
            f.write(loginuid)
        with open("/proc/self/sessionid") as f:
            ses = f.read().strip()
    except OSError as e:
        sys.stderr.write(f"secprof: cannot start an audit session (/proc/self/loginuid): {e.strerror}; "
                         "the logs recorder needs root with CAP_AUDIT_CONTROL and loginuid_immutable=0\n")
        return 125
    os.write(status_fd, f"ses={ses}\n".encode())
    os.close(status_fd)

    if not session_only:
        install_log_filter()
    try:
        os.execvp(argv[0], argv)
    except FileNotFoundError:
        sys.stderr.write(f"secprof: {argv[0]}: command not found\n")
        return 127
    except PermissionError:
        sys.stderr.write(f"secprof: {argv[0]}: permission denied\n")
        return 126
    return 126


def install_log_filter() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    prog = (SockFilter * 1)(SockFilter(BPF_RET_K, 0, 0, SECCOMP_RET_LOG))
    fprog = SockFprog(1, prog)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        sys.stderr.write(f"secprof: cannot install the seccomp log filter: {os.strerror(err)}\n")
        sys.exit(125)


if __name__ == "__main__":
    sys.exit(main())
