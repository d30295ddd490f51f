// Catching the signals that ask the command line to stop (SIGINT, SIGTERM,
// SIGHUP) the moment it says so. The handler is installed with sigaction
// before `rbp_stop_install` returns, so a signal sent right after is never
// missed (a Dispatch signal source is registered later, on its own thread,
// and a signal that came first met SIG_IGN and was lost). It records the
// first signal where the trainers poll it and writes each signal's number
// to a pipe, from which a thread of the program reads them in order (to
// say so, and to end the process on the second). A forked child's signals
// are its own: the handler writes to the pipe only in the installing process.
#ifndef RBP_STOP_SIGNALS_H
#define RBP_STOP_SIGNALS_H

/// Installs the handler for SIGINT, SIGTERM and SIGHUP (once); 0, or -1
/// with errno set.
int rbp_stop_install(void);

/// The first of those signals received, or 0.
int rbp_stop_first(void);

/// Waits for the next signal received and returns its number; -1 when the
/// handler is not installed.
int rbp_stop_next(void);

#endif
