/* Multi-threaded workload: four threads each write a file and sum it; exit 0 and print "ok 4". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *work(void *arg) {
  long id = (long)arg;
  char path[64];
  snprintf(path, sizeof path, "/tmp/secprof-thread-%ld-%d", id, getpid());
  FILE *f = fopen(path, "w");
  if (!f) return (void *)1;
  for (int i = 0; i < 100; i++) fprintf(f, "%d\n", i);
  fclose(f);
  f = fopen(path, "r");
  if (!f) return (void *)1;
  long sum = 0, v;
  while (fscanf(f, "%ld", &v) == 1) sum += v;
  fclose(f);
  unlink(path);
  return (void *)(long)(sum == 4950 ? 0 : 1);
}

int main(void) {
  pthread_t t[4];
  for (long i = 0; i < 4; i++)
    if (pthread_create(&t[i], NULL, work, (void *)i) != 0) return 1;
  int ok = 0;
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(t[i], &r);
    if (r == 0) ok++;
  }
  printf("ok %d\n", ok);
  return ok == 4 ? 0 : 1;
}
