/* A TCP server and client on loopback: the child connects and sends "ping", the server answers
 * "pong"; the client prints what it got. Exit 0 when the exchange completed. */
#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  int srv = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (srv < 0 || bind(srv, (struct sockaddr *)&a, sizeof a) < 0 || listen(srv, 1) < 0) return 1;
  socklen_t len = sizeof a;
  getsockname(srv, (struct sockaddr *)&a, &len);
  pid_t pid = fork();
  if (pid == 0) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0) _exit(1);
    char buf[8] = {0};
    if (send(c, "ping", 4, 0) != 4 || recv(c, buf, 4, MSG_WAITALL) != 4) _exit(1);
    printf("%s\n", buf);
    fflush(stdout);
    _exit(strcmp(buf, "pong") == 0 ? 0 : 1);
  }
  /* Never hang: as PID 1 of a container, no default signal action would end us. */
  struct pollfd pfd = {.fd = srv, .events = POLLIN};
  if (poll(&pfd, 1, 5000) != 1) return 1;
  int conn = accept(srv, NULL, NULL);
  char buf[8] = {0};
  if (conn < 0 || recv(conn, buf, 4, MSG_WAITALL) != 4 || strcmp(buf, "ping") != 0) return 1;
  if (send(conn, "pong", 4, 0) != 4) return 1;
  int status;
  waitpid(pid, &status, 0);
  close(conn);
  close(srv);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
