/*
 * rbp.h: the rbp engine as a C library (librbp).
 *
 * Recurrent backpropagation (Almeida-Pineda) for steady networks
 * x = f(W x + b + U u), and backpropagation through time for trajectories
 * x(t) = (1 - leak) x(t-1) + leak f(W x(t-1) + b + U u(t)), t = 1..T.
 * The library computes what the `rbp` command line computes (`rbp states`,
 * `rbp grad`, `rbp invert`), with the same code, in process.
 *
 * Conventions
 *   - Every function that can fail returns RBP_OK (0) or RBP_ERROR (1).
 *     After RBP_ERROR, rbp_last_error() gives the one-line message the
 *     command line would print (without "Error: "), until the next call on
 *     the same thread.
 *   - Networks are opaque handles. Distinct handles may be used from
 *     distinct threads at once; one handle is read-only after creation and
 *     may also be shared.
 *   - Arrays belong to the caller: an rbp_array gives the data pointer, the
 *     dtype (RBP_F32 or RBP_F64), the rank and, per dimension, the size and
 *     the stride in bytes (numpy's convention; a C-contiguous (P, N) f64
 *     array has strides {8 N, 8}). Inputs are read and never kept; outputs
 *     are written where they are, in their own dtype, and must have exactly
 *     the shape documented. Every shape and dtype is checked before any
 *     work starts.
 *   - Shapes: P patterns (or sequences), T steps, N units, I inputs,
 *     O outputs (the last O units). Steady states are (P, N); trajectories
 *     (P, T+1, N) with x(0) first; drives and cotangents (P, N) steady,
 *     (P, T, N) for t = 1..T.
 *   - A network computes in its precision (its dtype); inputs of the other
 *     float dtype are converted.
 */
#ifndef RBP_H
#define RBP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RBP_OK 0
#define RBP_ERROR 1

#define RBP_F32 1
#define RBP_F64 2

#define RBP_STEADY 0
#define RBP_TRAJECTORY 1

#define RBP_MAX_RANK 4

/* An array owned by the caller. */
typedef struct rbp_array {
  void *data;
  int32_t dtype;                  /* RBP_F32 or RBP_F64 */
  int32_t rank;                   /* 0 ... RBP_MAX_RANK */
  int64_t shape[RBP_MAX_RANK];
  int64_t strides[RBP_MAX_RANK];  /* bytes */
} rbp_array;

/* A network: parameters, activation, loss and solver settings. */
typedef struct rbp_network rbp_network;

/* What a network is. */
typedef struct rbp_info {
  int32_t model;          /* RBP_STEADY or RBP_TRAJECTORY */
  int32_t dtype;          /* the precision it computes in */
  int64_t units;          /* N */
  int64_t inputs;         /* I */
  int64_t outputs;        /* O: the last O units */
  int32_t dense_coupling; /* 1: U (N, I) is a parameter; 0: input k adds to unit k */
  int32_t symmetric;      /* steady: W = W^T with a zero diagonal */
  double leak;            /* trajectories; 1 = no leak */
  char activation[16];    /* tanh, logistic, linear, relu */
  char loss[16];          /* mse, bce */
} rbp_info;

/* Gradients: filled by rbp_grad. Set every array's data, dtype, rank,
 * shape and strides before the call; an array whose data is NULL is not
 * wanted and is skipped. */
typedef struct rbp_gradients {
  rbp_array W;        /* (N, N) */
  rbp_array b;        /* (N) */
  rbp_array U;        /* (N, I), dense coupling only (else data NULL) */
  rbp_array x0;       /* (N), trajectories only (else data NULL) */
  rbp_array drive;    /* with a cotangent: dR/da, (P, N) or (P, T, N) */
  rbp_array states;   /* (P, N) or (P, T+1, N) */
  int8_t *settled;    /* steady: P flags, 1 if the pattern settled (NULL: not wanted) */
  double loss;        /* out: the loss, or R = <c, x> (its mean with `mean`) */
  int64_t unsettled;  /* out: steady patterns left out of the gradient */
} rbp_gradients;

/* The version of rbp ("0.1.0"), and the kernels this CPU runs ("avx512"). */
const char *rbp_version(void);
const char *rbp_kernels(void);

/* The message of the last failed call on this thread ("" if none). */
const char *rbp_last_error(void);

/* Loads a checkpoint (format rbp-checkpoint, as `rbp train` writes it or
 * any tool may). dtype: RBP_F32 or RBP_F64, or 0 for RBP_F64.
 * solver_json: NULL, or a JSON object of solver settings that override the
 * run's, with the names of the command line's flags without "--"
 * ({"solver": "newton", "tolerance": 1e-12}).
 * Errors: the file is missing, damaged or not a checkpoint (the message
 * names the file and the member); dtype is not 0, RBP_F32 or RBP_F64;
 * solver_json is not a JSON object, names a setting that is not a solver
 * setting, or gives a value out of its range. */
int rbp_load(const char *path, int32_t dtype, const char *solver_json, rbp_network **out);

/* A steady network from arrays: W (N, N), b (N), U (N, I) or NULL for no
 * inputs. activation: "tanh", "logistic", "linear" or "relu"; loss: "mse"
 * or "bce" (NULL: "mse"); outputs: O, 1 <= O <= N (the targets' width);
 * symmetric: 1 ties W = W^T (W must then be symmetric with a zero
 * diagonal). dtype and solver_json as for rbp_load.
 * Errors: W not square, b or U not of N rows, a non-finite parameter, an
 * unknown activation or loss, bce without logistic units, O outside
 * 1...N, an asymmetric W with symmetric = 1. */
int rbp_steady_new(const rbp_array *W, const rbp_array *b, const rbp_array *U, const char *activation,
                   const char *loss, int64_t outputs, int32_t symmetric, int32_t dtype,
                   const char *solver_json, rbp_network **out);

/* A trajectory network from arrays: as rbp_steady_new, with x0 (N) the
 * learned initial state and leak in (0, 1]. solver_json may set "bptt"
 * and "window". Errors: as rbp_steady_new, and x0 not (N), leak outside
 * (0, 1]. */
int rbp_trajectory_new(const rbp_array *W, const rbp_array *b, const rbp_array *U, const rbp_array *x0,
                       double leak, const char *activation, const char *loss, int64_t outputs, int32_t dtype,
                       const char *solver_json, rbp_network **out);

/* Frees a network (NULL is allowed). Never fails. */
void rbp_free(rbp_network *net);

/* What the network is. Errors: a null network or out. */
int rbp_info_get(const rbp_network *net, rbp_info *out);

/* Copies the parameters out: W (N, N), b (N), U (N, I) (dense coupling),
 * x0 (N) (trajectories); any may be NULL. Errors: a wrong shape, U of a
 * network with identity coupling, x0 of a steady network. */
int rbp_parameters(const rbp_network *net, rbp_array *W, rbp_array *b, rbp_array *U, rbp_array *x0);

/* Writes the network as a checkpoint that rbp reads (atomically: a
 * temporary file in the same folder, renamed). Errors: the folder cannot
 * be written, the disk is full (nothing is left behind). */
int rbp_save(const rbp_network *net, const char *path);

/* The forward pass. inputs: (P, I) steady, (P, T, I) trajectory; initial:
 * NULL, or (P, N): the state each steady pattern relaxes from (default 0),
 * x(0) of each trajectory (default: the learned x0). states: (P, N) or
 * (P, T+1, N). settled: NULL or P flags (steady); an unsettled pattern's
 * row of states is NaN. Errors: a shape that does not fit (the message
 * names the array, its shape and the expected one), a dtype other than
 * RBP_F32/RBP_F64, no patterns, a NaN or infinity in an input. */
int rbp_states(const rbp_network *net, const rbp_array *inputs, const rbp_array *initial, rbp_array *states,
               int8_t *settled);

/* Gradients by RBP (steady) or BPTT (trajectory), of the built-in loss of
 * targets ((P, O) or (P, T, O); mask NULL or shaped as targets), or, given
 * a cotangent c = dR/dx ((P, N) or (P, T, N)), of R = <c, x>, summed over
 * the patterns, or their mean if `mean` is 1. Exactly one of targets and
 * cotangent is given. Steady patterns that do not settle are left out
 * (their rows NaN). Errors: as rbp_states, and neither or both of targets
 * and cotangent, `mean` without a cotangent, a negative mask value, an
 * output array (W, b, U, x0, drive, states) of the wrong shape, U wanted of
 * a network with identity coupling, x0 of a steady one, drive without a
 * cotangent; a trajectory whose BPTT fails (the message says why). */
int rbp_grad(const rbp_network *net, const rbp_array *inputs, const rbp_array *initial, const rbp_array *targets,
             const rbp_array *mask, const rbp_array *cotangent, int32_t mean, rbp_gradients *out);

/* The drives a = f^-1(x) - W x that make states x steady ((P, N) in,
 * (P, N) out) or a trajectory the network's own ((P, T+1, N) in, (P, T, N)
 * out), computed in f64. Errors: a shape that does not fit; a state
 * outside the domain of the activation's inverse (the message names the
 * pattern, step and unit); relu, which has no inverse. */
int rbp_invert(const rbp_network *net, const rbp_array *states, rbp_array *drive);

#ifdef __cplusplus
}
#endif

#endif /* RBP_H */
