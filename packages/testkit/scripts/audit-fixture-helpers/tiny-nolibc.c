/*
 * tiny-nolibc: minimal static programs without libc so that only a handful of
 * syscalls are made (keeps kernel printk output under printk_ratelimit's burst).
 * -DTINY_X86_64 : write(1) + exit(60) via syscall
 * -DTINY_X32NR  : getpid with x32 bit (0x40000027) + exit(60) via syscall
 * -DTINY_I386   : write(4) + exit(1) via int $0x80 (build with -m32)
 * gcc [-m32] -static -nostdlib -fno-stack-protector -O2 -DTINY_... -o X tiny-nolibc.c
 */
static const char msg[] = "secprof tiny\n";

void _start(void) {
#if defined(TINY_X86_64)
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"(1L), "S"(msg), "d"(sizeof msg - 1) : "rcx", "r11", "memory");
	__asm__ volatile("syscall" : : "a"(60L), "D"(0L) : "rcx", "r11", "memory");
#elif defined(TINY_X32NR)
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(0x40000000L | 39L) : "rcx", "r11", "memory");
	__asm__ volatile("syscall" : : "a"(60L), "D"(0L) : "rcx", "r11", "memory");
#elif defined(TINY_I386)
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(4L), "b"(1L), "c"(msg), "d"(sizeof msg - 1) : "memory");
	__asm__ volatile("int $0x80" : : "a"(1L), "b"(0L) : "memory");
#else
#error "define TINY_X86_64, TINY_X32NR or TINY_I386"
#endif
	for (;;) {
	}
}
