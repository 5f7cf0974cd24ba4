#!/bin/sh
# Builds the CO-RE syscall recorder into out/: syscalls.bpf.o (BPF, relocated by libbpf at load
# against the running kernel's BTF, so one build runs on every BTF kernel) and its loader
# secprof-bpf. Needs clang, gcc and libbpf-dev (Debian packages; scripts/setup installs them).
# BpftraceSource uses it when out/ has both files and falls back to bpftrace otherwise.
set -eu
cd "$(dirname "$0")"
mkdir -p out
multiarch=$(gcc -print-multiarch)
clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I"/usr/include/$multiarch" -Wall -Werror \
  -c syscalls.bpf.c -o out/syscalls.bpf.o.tmp
# Static: the loader then runs wherever dist/ is copied (an image without libbpf1, libelf1, zlib).
gcc -O2 -Wall -Wextra -Werror -static -o out/secprof-bpf.tmp loader.c -lbpf -lelf -lz
# Renamed last, so a failed build never leaves a half-written pair that looks usable.
mv out/syscalls.bpf.o.tmp out/syscalls.bpf.o
mv out/secprof-bpf.tmp out/secprof-bpf
