// The crash guard's state and handler (see include/crash_guard.h).

#include "crash_guard.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define RBP_GUARD_FILES 8
#define RBP_GUARD_PATH 1024

/// The signals the guard handles (rbp_guard_signals).
#define RBP_GUARD_SIGNALS 4

typedef struct {
  volatile sig_atomic_t depth;      // nesting of the HDF5 lock on `owner`
  pthread_t owner;
  volatile sig_atomic_t used[RBP_GUARD_FILES];
  char paths[RBP_GUARD_FILES][RBP_GUARD_PATH];
  struct sigaction previous[RBP_GUARD_SIGNALS];
  int installed;
} rbp_guard_t;

static rbp_guard_t state;
static rbp_guard_t *rbp_guard(void) { return &state; }

// SIGABRT: glibc's heap checks abort when the library frees what a damaged
// file made it allocate wrongly.
static const int rbp_guard_signals[RBP_GUARD_SIGNALS] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT};

void rbp_guard_enter(void) {
  rbp_guard_t *g = rbp_guard();
  if (g->depth++ == 0) g->owner = pthread_self();
}
void rbp_guard_leave(void) { rbp_guard()->depth--; }

int rbp_guard_open(const char *path) {
  rbp_guard_t *g = rbp_guard();
  for (int i = 0; i < RBP_GUARD_FILES; i++) {
    if (!g->used[i]) {
      strncpy(g->paths[i], path, RBP_GUARD_PATH - 1);
      g->paths[i][RBP_GUARD_PATH - 1] = 0;
      g->used[i] = 1;
      return i;
    }
  }
  return -1;
}
void rbp_guard_close(int slot) {
  if (slot >= 0 && slot < RBP_GUARD_FILES) rbp_guard()->used[slot] = 0;
}

static void rbp_guard_write(const char *text) {
  size_t n = strlen(text);
  while (n > 0) {
    ssize_t w = write(STDERR_FILENO, text, n);
    if (w <= 0) return;
    text += w;
    n -= (size_t)w;
  }
}

static void rbp_guard_handler(int signal_number, siginfo_t *info, void *context) {
  (void)context;
  rbp_guard_t *g = rbp_guard();
  // A fault the kernel raised, or an abort this process raised (not a
  // signal another process sent), on the thread inside the library.
  int raised_here = info != NULL &&
      (info->si_code > 0 || (signal_number == SIGABRT && info->si_pid == getpid()));
  if (raised_here && g->depth > 0 && pthread_equal(g->owner, pthread_self())) {
    rbp_guard_write("Error: ");
    int named = 0;
    for (int i = 0; i < RBP_GUARD_FILES; i++) {
      if (!g->used[i]) continue;
      if (named++) rbp_guard_write(" or ");
      rbp_guard_write(g->paths[i]);
    }
    if (!named) rbp_guard_write("a file");
    rbp_guard_write(": is damaged: reading it crashed the HDF5 library (signal ");
    char digits[4] = {0};
    int s = signal_number, k = s >= 10 ? 2 : 1;
    for (int i = k - 1; i >= 0; i--) { digits[i] = (char)('0' + s % 10); s /= 10; }
    rbp_guard_write(digits);
    rbp_guard_write(")\n");
    _exit(1);
  }
  // Not a read of ours: put the previous handler back. A fault the kernel
  // raised happens again when this returns and reaches it; a signal sent
  // by a process is sent again.
  for (int i = 0; i < RBP_GUARD_SIGNALS; i++) {
    if (rbp_guard_signals[i] == signal_number) sigaction(signal_number, &g->previous[i], NULL);
  }
  if (info == NULL || info->si_code <= 0) raise(signal_number);
}

void rbp_guard_install(void) {
  rbp_guard_t *g = rbp_guard();
  if (g->installed) return;
  g->installed = 1;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = rbp_guard_handler;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  for (int i = 0; i < RBP_GUARD_SIGNALS; i++) sigaction(rbp_guard_signals[i], &action, &g->previous[i]);
}


void rbp_guard_test_fault(void) {
  volatile int *nowhere = (volatile int *)16;
  (void)*nowhere;
}
