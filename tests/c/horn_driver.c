/* A C program built against a Horn library, to check it from outside Python.
 *
 * Compile with -DHORN_LIB=<name> -DHORN_LIB_UPPER=<NAME> '-DHORN_HEADER="<name>.h"' -l<name>.
 * Tensors are raw files: every input (or target, output) of the whole batch, one after
 * another, each in its own dtype.
 *
 *   driver info                               the interface, one line per tensor
 *   driver predict IN BATCH OUT               run once, write the outputs
 *   driver errors IN                          provoke each error; one line per case
 *   driver train IN TARGETS BATCH LR STEPS OUT
 *       STEPS train steps on one batch; OUT gets the STEPS losses, then every weight as it
 *       was after the first step
 *   driver bench IN REPEATS                   median latency of run at batch 1, in ns
 *   driver threads IN BATCH OUT THREADS       THREADS threads, a context each, run concurrently;
 *                                             OUT gets thread 0's outputs if all threads agree
 */
#define _POSIX_C_SOURCE 200112L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include HORN_HEADER

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define F(f) CAT(HORN_LIB, f)           /* F(run) -> mlp_run */
#define K(c) CAT(HORN_LIB_UPPER, c)     /* K(OK)  -> MLP_OK  */

static const size_t dtype_size[] = {2, 4, 8, 1, 1, 4, 8, 1}; /* the header's dtype enum order */

static void die(const char* what) { fprintf(stderr, "driver: %s\n", what); exit(2); }

static size_t per_sample_bytes(int dtype, int rank, const int64_t* shape) {
  size_t n = dtype_size[dtype];
  for (int k = 0; k < rank; ++k) if (shape[k] != -1) n *= (size_t)shape[k];
  return n;
}

static char* read_file(const char* path, size_t need) {
  FILE* f = fopen(path, "rb");
  if (!f) die("cannot open an input file");
  char* buf = malloc(need ? need : 1);
  if (fread(buf, 1, need, f) != need) die("input file too short");
  fclose(f);
  return buf;
}

/* Splits one file into per-tensor pointers of `batch` samples each. */
static char* load_group(const char* path, int64_t batch, int n, int (*dtype)(int), int (*rank)(int),
                        const int64_t* (*shape)(int), const void** ptrs) {
  size_t total = 0;
  for (int i = 0; i < n; ++i) total += per_sample_bytes(dtype(i), rank(i), shape(i)) * (size_t)batch;
  char* buf = read_file(path, total);
  size_t off = 0;
  for (int i = 0; i < n; ++i) {
    ptrs[i] = buf + off;
    off += per_sample_bytes(dtype(i), rank(i), shape(i)) * (size_t)batch;
  }
  return buf;
}

static void print_tensor(const char* kind, int i, const char* name, int dtype, int rank, const int64_t* s) {
  printf("%s %d %s %d %d", kind, i, name, dtype, rank);
  for (int k = 0; k < rank; ++k) printf(" %lld", (long long)s[k]);
  printf("\n");
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int cmp_i64(const void* a, const void* b) {
  int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return (x > y) - (x < y);
}

typedef struct { const void** in; int64_t batch; char* out; size_t out_bytes; int status; } job_t;

static void* worker(void* arg) {
  job_t* job = arg;
  CAT(HORN_LIB, context)* ctx = NULL;
  if ((job->status = F(create)(&ctx)) != K(OK)) return NULL;
  void* out[16];
  size_t off = 0;
  for (int i = 0; i < F(num_outputs)(); ++i) {
    out[i] = job->out + off;
    off += per_sample_bytes(F(output_dtype)(i), F(output_rank)(i), F(output_shape)(i)) * (size_t)job->batch;
  }
  for (int r = 0; r < 50 && job->status == K(OK); ++r)
    job->status = F(run)(ctx, job->batch, job->in, out);
  F(destroy)(ctx);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) die("usage: driver info|predict|errors|train|bench ...");
  const char* mode = argv[1];
  CAT(HORN_LIB, context)* ctx = NULL;
  if (F(create)(&ctx) != K(OK)) die("create failed");
  int nin = F(num_inputs)(), nout = F(num_outputs)();
  const void* in[16];
  void* out[16];
  if (nin > 16 || nout > 16 || F(num_targets)() > 16) die("too many tensors for this driver");

  if (!strcmp(mode, "info")) {
    for (int i = 0; i < nin; ++i)
      print_tensor("input", i, F(input_name)(i), F(input_dtype)(i), F(input_rank)(i), F(input_shape)(i));
    for (int i = 0; i < nout; ++i)
      print_tensor("output", i, F(output_name)(i), F(output_dtype)(i), F(output_rank)(i), F(output_shape)(i));
    for (int i = 0; i < F(num_targets)(); ++i)
      print_tensor("target", i, F(target_name)(i), F(target_dtype)(i), F(target_rank)(i), F(target_shape)(i));
    for (int i = 0; i < F(num_weights)(); ++i)
      print_tensor("weight", i, F(weight_name)(i), F(weight_dtype)(i), F(weight_rank)(i), F(weight_shape)(i));
    printf("train %d\n", F(has_train_step)());
    printf("out_of_range %d %d %lld %d\n", F(input_name)(nin) == NULL, F(output_rank)(-1),
           (long long)F(weight_size)(F(num_weights)()), F(input_shape)(nin) == NULL);
  } else if (!strcmp(mode, "predict") && argc == 5) {
    int64_t batch = atoll(argv[3]);
    char* buf = load_group(argv[2], batch, nin, F(input_dtype), F(input_rank), F(input_shape), in);
    size_t total = 0;
    for (int i = 0; i < nout; ++i) total += per_sample_bytes(F(output_dtype)(i), F(output_rank)(i), F(output_shape)(i)) * (size_t)batch;
    char* obuf = malloc(total ? total : 1);
    size_t off = 0;
    for (int i = 0; i < nout; ++i) {
      out[i] = obuf + off;
      off += per_sample_bytes(F(output_dtype)(i), F(output_rank)(i), F(output_shape)(i)) * (size_t)batch;
    }
    int s = F(run)(ctx, batch, in, out);
    if (s != K(OK)) { fprintf(stderr, "run: %s\n", F(last_error)(ctx)); return 1; }
    FILE* f = fopen(argv[4], "wb");
    fwrite(obuf, 1, total, f);
    fclose(f);
    free(buf); free(obuf);
  } else if (!strcmp(mode, "errors") && argc == 3) {
    char* buf = load_group(argv[2], 1, nin, F(input_dtype), F(input_rank), F(input_shape), in);
    static float sink[1 << 16];
    for (int i = 0; i < nout; ++i) out[i] = sink;
    const void* null_in[16] = {0};
    printf("null_ctx %d\n", F(run)(NULL, 1, in, out));
    printf("null_ctx_error %s\n", F(last_error)(NULL));
    printf("null_inputs %d %s\n", F(run)(ctx, 1, NULL, out), F(last_error)(ctx));
    printf("null_input0 %d %s\n", F(run)(ctx, 1, null_in, out), F(last_error)(ctx));
    printf("null_outputs %d %s\n", F(run)(ctx, 1, in, NULL), F(last_error)(ctx));
    printf("batch_zero %d %s\n", F(run)(ctx, 0, in, out), F(last_error)(ctx));
    printf("batch_negative %d %s\n", F(run)(ctx, -5, in, out), F(last_error)(ctx));
    printf("batch_huge %d %s\n", F(run)(ctx, INT64_MAX / 2, in, out), F(last_error)(ctx));
    printf("batch_oom %d %s\n", F(run)(ctx, (int64_t)1 << 40, in, out), F(last_error)(ctx));
    printf("ok %d [%s]\n", F(run)(ctx, 1, in, out), F(last_error)(ctx));
    printf("bad_weight %d %s\n", F(get_weight)(ctx, F(num_weights)(), sink), F(last_error)(ctx));
    printf("null_weight_dst %d %s\n", F(get_weight)(ctx, 0, NULL), F(last_error)(ctx));
    printf("null_create %d\n", F(create)(NULL));
    float loss;
    printf("train_null_targets %d %s\n", F(train_step)(ctx, 1, in, NULL, NULL, 0.01f, &loss), F(last_error)(ctx));
    printf("status %s|%s|%s\n", F(status_string)(K(ERR_BAD_BATCH)), F(status_string)(K(ERR_NULL_ARGUMENT)),
           F(status_string)(12345));
    printf("codes %d %d %d %d %d %d\n", K(ERR_NULL_ARGUMENT), K(ERR_BAD_BATCH), K(ERR_OUT_OF_MEMORY),
           K(ERR_BAD_INDEX), K(ERR_BAD_ARGUMENT), K(ERR_NO_TRAIN_STEP));
    F(destroy)(NULL);
    free(buf);
  } else if (!strcmp(mode, "train") && argc == 8) {
    int64_t batch = atoll(argv[4]);
    float lr = (float)atof(argv[5]);
    int steps = atoi(argv[6]);
    const void* tg[16];
    char* xb = load_group(argv[2], batch, nin, F(input_dtype), F(input_rank), F(input_shape), in);
    char* yb = load_group(argv[3], batch, F(num_targets)(), F(target_dtype), F(target_rank), F(target_shape), tg);
    FILE* f = fopen(argv[7], "wb");
    float* losses = malloc(sizeof(float) * (size_t)steps);
    char* weights = NULL;
    size_t wtotal = 0;
    for (int i = 0; i < F(num_weights)(); ++i)
      wtotal += (size_t)F(weight_size)(i) * dtype_size[F(weight_dtype)(i)];
    weights = malloc(wtotal ? wtotal : 1);
    for (int s = 0; s < steps; ++s) {
      int st = F(train_step)(ctx, batch, in, tg, NULL, lr, &losses[s]);
      if (st != K(OK)) { fprintf(stderr, "train_step: %s\n", F(last_error)(ctx)); return 1; }
      if (s == 0) {
        size_t off = 0;
        for (int i = 0; i < F(num_weights)(); ++i) {
          if (F(get_weight)(ctx, i, weights + off) != K(OK)) die("get_weight failed");
          off += (size_t)F(weight_size)(i) * dtype_size[F(weight_dtype)(i)];
        }
      }
    }
    fwrite(losses, sizeof(float), (size_t)steps, f);
    fwrite(weights, 1, wtotal, f);
    fclose(f);
    free(xb); free(yb); free(losses); free(weights);
  } else if (!strcmp(mode, "bench") && argc == 4) {
    int repeats = atoi(argv[3]);
    char* buf = load_group(argv[2], 1, nin, F(input_dtype), F(input_rank), F(input_shape), in);
    static char sink[1 << 20];
    size_t off = 0;
    for (int i = 0; i < nout; ++i) {
      out[i] = sink + off;
      off += per_sample_bytes(F(output_dtype)(i), F(output_rank)(i), F(output_shape)(i));
    }
    for (int r = 0; r < 10; ++r) F(run)(ctx, 1, in, out);   /* warm up: arena, caches */
    int64_t* t = malloc(sizeof(int64_t) * (size_t)repeats);
    for (int r = 0; r < repeats; ++r) {
      int64_t t0 = now_ns();
      if (F(run)(ctx, 1, in, out) != K(OK)) die("run failed");
      t[r] = now_ns() - t0;
    }
    qsort(t, (size_t)repeats, sizeof *t, cmp_i64);
    printf("median_ns %lld\n", (long long)t[repeats / 2]);
    free(t); free(buf);
  } else if (!strcmp(mode, "threads") && argc == 6) {
    int64_t batch = atoll(argv[3]);
    int n = atoi(argv[5]);
    if (n < 1 || n > 64) die("1 to 64 threads");
    char* buf = load_group(argv[2], batch, nin, F(input_dtype), F(input_rank), F(input_shape), in);
    size_t total = 0;
    for (int i = 0; i < nout; ++i) total += per_sample_bytes(F(output_dtype)(i), F(output_rank)(i), F(output_shape)(i)) * (size_t)batch;
    pthread_t tid[64];
    job_t jobs[64];
    for (int t = 0; t < n; ++t) {
      jobs[t] = (job_t){in, batch, calloc(total ? total : 1, 1), total, K(OK)};
      if (pthread_create(&tid[t], NULL, worker, &jobs[t])) die("pthread_create failed");
    }
    for (int t = 0; t < n; ++t) pthread_join(tid[t], NULL);
    for (int t = 0; t < n; ++t) {
      if (jobs[t].status != K(OK)) { fprintf(stderr, "thread %d: status %d\n", t, jobs[t].status); return 1; }
      if (memcmp(jobs[t].out, jobs[0].out, total)) { fprintf(stderr, "thread %d disagrees\n", t); return 1; }
    }
    FILE* f = fopen(argv[4], "wb");
    fwrite(jobs[0].out, 1, total, f);
    fclose(f);
    for (int t = 0; t < n; ++t) free(jobs[t].out);
    free(buf);
  } else {
    die("unknown mode or wrong arguments");
  }
  F(destroy)(ctx);
  return 0;
}
