// The command line's last line of defence against damaged files. The
// trial read (trial_read.h) finds damage that crashes the HDF5 library in a
// child process, but a read out of bounds of a damaged heap object faults
// or not depending on where the allocator put that heap: the child may
// survive what the reading process then does not. With the guard
// installed (by the `rbp` executable only, never by the library on its own),
// a SIGSEGV, SIGBUS, SIGFPE or SIGABRT raised on the thread that is inside the HDF5
// library ends the process with one line naming the files open for
// reading, and exit status 1. A fault anywhere else goes to the handler
// that was there before (the Swift runtime's crash report).
//
// The state lives in crash_guard.c, once per process.
#ifndef RBP_CRASH_GUARD_H
#define RBP_CRASH_GUARD_H

/// Called with the HDF5 lock just taken, and just before it is released.
void rbp_guard_enter(void);
void rbp_guard_leave(void);

/// Records a file opened for reading; returns its slot (-1: no room, it is
/// then not named).
int rbp_guard_open(const char *path);
void rbp_guard_close(int slot);

/// Installs the guard (once).
void rbp_guard_install(void);

/// Reads address 16: a real fault, for the guard's test.
void rbp_guard_test_fault(void);

#endif
