/*
 * audit-mcast-listen OUTFILE READYFILE: join the kernel's audit netlink
 * multicast group AUDIT_NLGRP_READLOG (needs CAP_AUDIT_READ) and write every
 * record, including the EOE records that auditd never writes to its log, as
 *     type=<NAME> msg=<kernel payload bytes>\0
 * i.e. the layout of auditd's RAW log format (NAME from libaudit's
 * audit_msg_type_to_name(); "UNKNOWN[n]" otherwise) but NUL-terminated: the
 * kernel payload ("audit(SEC.MSEC:SERIAL): fields...") is copied byte for byte
 * (only trailing NUL/newline bytes are dropped), and user-space text inside it may
 * contain raw newlines (auditd turns those into spaces; the kernel does not), so a
 * newline cannot mark the end of a record. capture-audit-fixtures.sh selects
 * records and writes them newline-terminated.
 * Creates READYFILE once bound; exits on SIGTERM/SIGINT.
 * gcc -O2 -o audit-mcast-listen audit-mcast-listen.c -laudit
 */
#include <errno.h>
#include <libaudit.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef AUDIT_NLGRP_READLOG
#define AUDIT_NLGRP_READLOG 1
#endif

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: %s OUTFILE READYFILE\n", argv[0]);
		return 2;
	}
	FILE *out = fopen(argv[1], "w");
	if (!out) {
		perror("fopen");
		return 1;
	}
	int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	int rcv = 16 * 1024 * 1024;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = 1U << (AUDIT_NLGRP_READLOG - 1)};
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("bind");
		return 1;
	}
	struct sigaction act = {.sa_handler = on_signal};
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	FILE *ready = fopen(argv[2], "w");
	if (ready)
		fclose(ready);
	static char buf[1 << 16];
	while (!stop) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, 200);
		if (pr <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				fprintf(stderr, "audit-mcast-listen: ENOBUFS (records lost)\n");
				continue;
			}
			perror("recv");
			break;
		}
		/* The kernel multicasts one record per datagram. The last message of a datagram is
		 * not padded to NLMSG_ALIGN, so NLMSG_NEXT() must not be used to walk past it. */
		if ((size_t)n < NLMSG_HDRLEN)
			continue;
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		size_t total = h->nlmsg_len >= NLMSG_HDRLEN && h->nlmsg_len <= (size_t)n ? h->nlmsg_len : (size_t)n;
		const char *data = buf + NLMSG_HDRLEN;
		size_t len = total - NLMSG_HDRLEN;
		while (len > 0 && (data[len - 1] == '\0' || data[len - 1] == '\n'))
			len--;
		const char *name = audit_msg_type_to_name(h->nlmsg_type);
		if (name)
			fprintf(out, "type=%s msg=%.*s", name, (int)len, data);
		else
			fprintf(out, "type=UNKNOWN[%d] msg=%.*s", h->nlmsg_type, (int)len, data);
		fputc('\0', out);
		fflush(out);
	}
	fclose(out);
	return 0;
}
