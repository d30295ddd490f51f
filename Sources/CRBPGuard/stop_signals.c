// The stop signals' handler (stop_signals.h): async-signal-safe, it only
// stores the first signal and writes a byte to a pipe.
#include "stop_signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

static atomic_int rbp_stop_first_signal = 0;
static int rbp_stop_pipe[2] = {-1, -1};
static pid_t rbp_stop_owner = 0;

static void rbp_stop_handler(int signal_number) {
  int saved = errno;
  if (getpid() == rbp_stop_owner) {
    int none = 0;
    atomic_compare_exchange_strong(&rbp_stop_first_signal, &none, signal_number);
    unsigned char byte = (unsigned char)signal_number;
    ssize_t written = write(rbp_stop_pipe[1], &byte, 1);
    (void)written;  // a full pipe (hundreds of signals unread) drops the byte
  }
  errno = saved;
}

int rbp_stop_install(void) {
  if (rbp_stop_pipe[0] >= 0) return 0;
  int ends[2];
  if (pipe(ends) != 0) return -1;
  for (int i = 0; i < 2; i++) fcntl(ends[i], F_SETFD, FD_CLOEXEC);
  fcntl(ends[1], F_SETFL, O_NONBLOCK);
  rbp_stop_pipe[0] = ends[0];
  rbp_stop_pipe[1] = ends[1];
  rbp_stop_owner = getpid();
  struct sigaction action;
  action.sa_handler = rbp_stop_handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  const int signals[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++)
    if (sigaction(signals[i], &action, 0) != 0) return -1;
  return 0;
}

int rbp_stop_first(void) { return atomic_load(&rbp_stop_first_signal); }

int rbp_stop_next(void) {
  if (rbp_stop_pipe[0] < 0) return -1;
  for (;;) {
    unsigned char byte;
    ssize_t n = read(rbp_stop_pipe[0], &byte, 1);
    if (n == 1) return byte;
    if (n < 0 && errno == EINTR) continue;
    return -1;
  }
}
