/* Time to make a Horn library usable: dlopen + dlsym + <name>_create, in nanoseconds.
 *
 *   load_time /path/to/lib<name>.so <name>
 *
 * Run it in a fresh process per measurement: a second dlopen in one process only bumps a count.
 */
#define _POSIX_C_SOURCE 199309L
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 3) { fprintf(stderr, "usage: load_time LIBRARY NAME\n"); return 2; }
  char create_name[256], destroy_name[256];
  snprintf(create_name, sizeof create_name, "%s_create", argv[2]);
  snprintf(destroy_name, sizeof destroy_name, "%s_destroy", argv[2]);
  int64_t t0 = now_ns();
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  int (*create)(void**) = (int (*)(void**))dlsym(lib, create_name);
  if (!create) { fprintf(stderr, "no %s\n", create_name); return 1; }
  void* ctx = NULL;
  if (create(&ctx) != 0) { fprintf(stderr, "create failed\n"); return 1; }
  int64_t t1 = now_ns();
  printf("load_ns %lld\n", (long long)(t1 - t0));
  void (*destroy)(void*) = (void (*)(void*))dlsym(lib, destroy_name);
  destroy(ctx);
  dlclose(lib);
  return 0;
}
