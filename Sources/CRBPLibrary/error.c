/* The per-thread last error of librbp: a copy of the message of the last
 * failed call on each thread, read through rbp_last_error(). */
#include <stdlib.h>
#include <string.h>

#include "rbp.h"
#include "rbp_error.h"

static _Thread_local char *last_error;

const char *rbp_last_error(void) { return last_error ? last_error : ""; }

__attribute__((visibility("hidden"))) void rbp_error_set_(const char *message) {
  char *copy = strdup(message ? message : "");
  free(last_error);
  last_error = copy;
}
