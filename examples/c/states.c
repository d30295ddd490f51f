/*
 * librbp from C: load a checkpoint, compute the steady states of a few
 * patterns given on the command line, and the gradient of R = sum of the
 * states (cotangent 1), printing both with every digit.
 *
 *   cc examples/c/states.c -I Sources/CRBPLibrary/include -L .build/release -lrbp \
 *      -Wl,-rpath,$PWD/.build/release -o states
 *   ./states run/checkpoint.h5 0 1 1 0      # P patterns of I inputs, row-major
 */
#include <stdio.h>
#include <stdlib.h>

#include "rbp.h"

static rbp_array matrix(double *data, int64_t rows, int64_t cols) {
  rbp_array a = {data, RBP_F64, 2, {rows, cols}, {(int64_t)sizeof(double) * cols, sizeof(double)}};
  return a;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CHECKPOINT [INPUT VALUES...]\n", argv[0]);
    return 2;
  }
  rbp_network *net = NULL;
  if (rbp_load(argv[1], RBP_F64, NULL, &net) != RBP_OK) {
    fprintf(stderr, "Error: %s\n", rbp_last_error());
    return 1;
  }
  rbp_info info;
  rbp_info_get(net, &info);
  int64_t n = info.units, i = info.inputs, count = argc - 2;
  if (info.model != RBP_STEADY || i == 0 || count % i != 0 || count == 0) {
    fprintf(stderr, "Error: give P x %lld input values for this steady network\n", (long long)i);
    rbp_free(net);
    return 1;
  }
  int64_t p = count / i;
  double *u = malloc(sizeof(double) * p * i), *x = malloc(sizeof(double) * p * n);
  double *c = malloc(sizeof(double) * p * n), *gw = malloc(sizeof(double) * n * n);
  for (int64_t k = 0; k < count; k++) u[k] = strtod(argv[2 + k], NULL);
  for (int64_t k = 0; k < p * n; k++) c[k] = 1;
  rbp_array inputs = matrix(u, p, i), states = matrix(x, p, n), cotangent = matrix(c, p, n);
  int status = rbp_states(net, &inputs, NULL, &states, NULL);
  rbp_gradients g = {0};
  g.W = matrix(gw, n, n);
  if (status == RBP_OK) status = rbp_grad(net, &inputs, NULL, NULL, NULL, &cotangent, 0, &g);
  if (status != RBP_OK) {
    fprintf(stderr, "Error: %s\n", rbp_last_error());
  } else {
    for (int64_t k = 0; k < p * n; k++) printf("x %.17g\n", x[k]);
    for (int64_t k = 0; k < n * n; k++) printf("dW %.17g\n", gw[k]);
    printf("R %.17g\n", g.loss);
  }
  free(u), free(x), free(c), free(gw);
  rbp_free(net);
  return status == RBP_OK ? 0 : 1;
}
