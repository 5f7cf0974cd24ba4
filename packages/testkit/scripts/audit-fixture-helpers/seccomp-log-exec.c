/*
 * seccomp-log-exec: install a seccomp filter whose default action is
 * SCMP_ACT_LOG for x86_64, i386 and x32, then exec the given program.
 * Every syscall the program makes is allowed and logged by the kernel
 * (type=SECCOMP / 1326, code=0x7ffc0000) when "log" is in
 * /proc/sys/kernel/seccomp/actions_logged.
 *
 * Built into a temp dir by capture-audit-fixtures.sh; never committed as a binary.
 * gcc -O2 -o seccomp-log-exec seccomp-log-exec.c -lseccomp
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int add_arch(scmp_filter_ctx ctx, uint32_t arch, const char *name) {
	int rc = seccomp_arch_add(ctx, arch);
	if (rc != 0 && rc != -EEXIST) {
		fprintf(stderr, "seccomp_arch_add(%s): %s\n", name, strerror(-rc));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: %s PROGRAM [ARGS...]\n", argv[0]);
		return 2;
	}
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_LOG);
	if (ctx == NULL) {
		fprintf(stderr, "seccomp_init failed\n");
		return 1;
	}
	if (add_arch(ctx, SCMP_ARCH_X86, "x86") || add_arch(ctx, SCMP_ARCH_X32, "x32"))
		return 1;
	int rc = seccomp_load(ctx);
	if (rc != 0) {
		fprintf(stderr, "seccomp_load: %s\n", strerror(-rc));
		return 1;
	}
	execv(argv[1], argv + 1);
	fprintf(stderr, "execv(%s): %s\n", argv[1], strerror(errno));
	return 127;
}
