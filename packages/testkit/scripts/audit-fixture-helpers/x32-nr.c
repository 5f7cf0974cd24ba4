/*
 * x32-nr: an x86_64 process that issues syscalls with the x32 bit
 * (__X32_SYSCALL_BIT = 0x40000000) set in the syscall number, as an x32
 * program would. The seccomp filter sees arch=c000003e (AUDIT_ARCH_X86_64)
 * and nr = 0x40000000 | n, exactly as for a real x32 task; the kernel then
 * fails the call with ENOSYS when CONFIG_X86_X32_ABI is not set.
 * x32 numbers used: 39 getpid, 1 write (same values as x86_64 for these).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define X32_SYSCALL_BIT 0x40000000L

int main(void) {
	long r = syscall(X32_SYSCALL_BIT | 39);
	printf("x32 getpid -> %ld (%s)\n", r, r < 0 ? strerror(errno) : "ok");
	static const char msg[] = "secprof x32-nr write\n";
	r = syscall(X32_SYSCALL_BIT | 1, 1, msg, sizeof msg - 1);
	printf("x32 write -> %ld (%s)\n", r, r < 0 ? strerror(errno) : "ok");
	return 0;
}
