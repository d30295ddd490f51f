/* The library's per-thread error message (not part of the public API). */
#ifndef RBP_ERROR_H
#define RBP_ERROR_H
/* Keeps a copy of `message` as this thread's last error. */
void rbp_error_set_(const char *message);
#endif
