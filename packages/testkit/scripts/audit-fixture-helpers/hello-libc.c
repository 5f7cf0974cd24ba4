/*
 * hello-libc: small glibc program (open/read/close/write/exit_group).
 * Built three ways by capture-audit-fixtures.sh:
 *   gcc -m32  -static -> i386 ELF   (records arch=40000003)
 *   gcc -mx32 -static -> x32 ELF    (cannot exec here without CONFIG_X86_X32_ABI)
 *   gcc -static       -> x86_64 ELF (runc rootfs)
 */
#include <fcntl.h>
#include <unistd.h>

int main(void) {
	char buf[64];
	int fd = open("/etc/hostname", O_RDONLY);
	if (fd >= 0) {
		(void)read(fd, buf, sizeof buf);
		close(fd);
	}
	static const char msg[] = "secprof hello-libc\n";
	(void)write(1, msg, sizeof msg - 1);
	return 0;
}
