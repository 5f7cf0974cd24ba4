/*
 * audit-user-send TYPE TEXT: send one user-space audit message of netlink type
 * TYPE (1100..1199 or 2100..2999, e.g. 1005 AUDIT_USER, 1107 AUDIT_USER_AVC) with
 * the exact bytes of TEXT, the way any process holding CAP_AUDIT_WRITE can.
 * The kernel wraps it as: pid=.. uid=.. auid=.. ses=.. [subj=..] msg='TEXT'
 * Used to produce the forged-input fixtures (user text that looks like a
 * kernel SECCOMP record). Built into a temp dir; never committed as a binary.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef NETLINK_AUDIT
#define NETLINK_AUDIT 9
#endif

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: %s TYPE TEXT\n", argv[0]);
		return 2;
	}
	int type = atoi(argv[1]);
	size_t len = strlen(argv[2]) + 1; /* include NUL, as libaudit does */
	int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	char *buf = calloc(1, NLMSG_SPACE(len));
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	nlh->nlmsg_len = NLMSG_LENGTH(len);
	nlh->nlmsg_type = (unsigned short)type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	memcpy(NLMSG_DATA(nlh), argv[2], len);
	if (sendto(fd, buf, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
		perror("sendto");
		return 1;
	}
	char ack[4096];
	ssize_t n = recv(fd, ack, sizeof ack, 0);
	if (n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		struct nlmsghdr *ah = (struct nlmsghdr *)ack;
		if (ah->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(ah);
			if (e->error != 0) {
				fprintf(stderr, "kernel refused: %s\n", strerror(-e->error));
				return 1;
			}
		}
	}
	close(fd);
	return 0;
}
