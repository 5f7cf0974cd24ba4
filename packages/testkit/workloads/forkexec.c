/* Forks children that exec other programs (a shell and ls); prints "ok" when all succeed. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static int run(char *const argv[]) {
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null < 0 || dup2(null, 1) < 0) _exit(126);
    execv(argv[0], argv);
    _exit(127);
  }
  int status;
  if (waitpid(pid, &status, 0) < 0) return 1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(void) {
  char *sh[] = {"/bin/sh", "-c", "echo child > /dev/null", NULL};
  char *ls[] = {"/bin/ls", "/", NULL};
  int bad = 0;
  for (int i = 0; i < 3; i++) bad += run(sh);
  bad += run(ls);
  if (bad == 0) printf("ok\n");
  return bad == 0 ? 0 : 1;
}
