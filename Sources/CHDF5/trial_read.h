// A trial read of an HDF5 file in a child process, before the engine reads
// it. The serial HDF5 library trusts a file's metadata: a damaged file (one
// flipped bit in a global heap's object size, an attribute's heap index, an
// object header) can make it read out of bounds and crash the process,
// which no error check around the calls can catch. The child opens the file
// and reads what the engine's readers will read, through the same
// conversions: every attribute of every object (variable-length strings
// included, numbers as double and as integer) and, for files up to
// `data_bytes`, every numeric dataset as double and as float. If the child dies, the file is
// refused with the signal; if it takes longer than `timeout_ms`, it is
// killed and the file refused.
//
// Called with the engine's HDF5 lock held, so no other thread is inside the
// library at the fork; the child calls only C (HDF5, malloc) and _exit.
// Under ThreadSanitizer there is no trial: its runtime can deadlock in the
// child of a multithreaded fork, and the caller reads the file directly.
#ifndef RBP_CHDF5_TRIAL_READ_H
#define RBP_CHDF5_TRIAL_READ_H

#include <hdf5.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static herr_t rbp_trial_attribute(hid_t location, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  (void)data;
  if (H5Aexists(location, name) <= 0) return 0;
  hid_t a = H5Aopen(location, name, H5P_DEFAULT);
  if (a < 0) return 0;
  hid_t type = H5Aget_type(a), space = H5Aget_space(a);
  hssize_t count = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  if (type >= 0 && count > 0 && count <= (1 << 20)) {
    if (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) > 0) {
      // In the file's own character set (else there is no conversion, and
      // no read) and in UTF-8 as the readers ask; then each string is
      // measured and freed as the readers do, so that a pointer the library
      // made up from damaged metadata is dereferenced here, not there.
      H5T_cset_t sets[2] = {H5Tget_cset(type), H5T_CSET_UTF8};
      for (int k = 0; k < 2; k++) {
        hid_t memory = H5Tcopy(H5T_C_S1);
        H5Tset_size(memory, H5T_VARIABLE);
        H5Tset_cset(memory, sets[k]);
        char **strings = calloc((size_t)count, sizeof(char *));
        if (strings && H5Aread(a, memory, strings) >= 0) {
          for (hssize_t i = 0; i < count; i++) {
            if (strings[i]) {
              volatile size_t length = strlen(strings[i]);
              (void)length;
              H5free_memory(strings[i]);
            }
          }
        }
        free(strings);
        H5Tclose(memory);
      }
    } else {
      size_t size = H5Tget_size(type);
      if (size > 0 && size <= (1 << 16)) {
        void *buffer = malloc((size_t)count * size + 1);
        if (buffer) H5Aread(a, type, buffer);
      }
      // Numbers also through the conversions the readers ask for.
      H5T_class_t class = H5Tget_class(type);
      if (class == H5T_INTEGER || class == H5T_FLOAT) {
        double *doubles = malloc((size_t)count * sizeof(double));
        long long *integers = malloc((size_t)count * sizeof(long long));
        if (doubles) H5Aread(a, H5T_NATIVE_DOUBLE, doubles);
        if (integers) H5Aread(a, H5T_NATIVE_LLONG, integers);
      }
    }
  }
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  H5Aclose(a);
  return 0;
}

/// Attributes the ways the readers reach them: listed by index, opened by name.
static void rbp_trial_attributes(hid_t object) {
  H5O_info_t counts;
  if (H5Oget_info2(object, &counts, H5O_INFO_NUM_ATTRS) >= 0) {
    for (hsize_t i = 0; i < counts.num_attrs && i < 4096; i++) {
      char attribute[1024];
      ssize_t size = H5Aget_name_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, i, attribute, sizeof attribute, H5P_DEFAULT);
      if (size > 0 && (size_t)size < sizeof attribute) rbp_trial_attribute(object, attribute, NULL, NULL);
    }
  }
  H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, rbp_trial_attribute, NULL);
}

static herr_t rbp_trial_object(hid_t root, const char *name, const H5O_info_t *info, void *data) {
  hid_t object = H5Oopen(root, name, H5P_DEFAULT);
  if (object < 0) return 0;
  rbp_trial_attributes(object);
  if (info->type == H5O_TYPE_GROUP) {
    H5G_info_t links;
    if (H5Gget_info(object, &links) >= 0) {
      for (hsize_t i = 0; i < links.nlinks && i < 65536; i++) {
        char link[1024];
        ssize_t size = H5Lget_name_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, i, link, sizeof link, H5P_DEFAULT);
        // Each child the ways the readers reach it: its kind by name, then
        // opened by name as a group or a dataset.
        if (size <= 0 || (size_t)size >= sizeof link) continue;
        H5O_info_t child;
        if (H5Oget_info_by_name2(object, link, &child, H5O_INFO_BASIC, H5P_DEFAULT) < 0) continue;
        hid_t opened = child.type == H5O_TYPE_GROUP ? H5Gopen2(object, link, H5P_DEFAULT)
                     : child.type == H5O_TYPE_DATASET ? H5Dopen2(object, link, H5P_DEFAULT) : -1;
        if (opened >= 0) H5Oclose(opened);
      }
    }
  }
  if (info->type == H5O_TYPE_DATASET) {
    // Its filters, as `rbp inspect` asks for them.
    hid_t creation = H5Dget_create_plist(object);
    if (creation >= 0) {
      H5Pget_nfilters(creation);
      H5Pclose(creation);
    }
    hid_t type = H5Dget_type(object), space = H5Dget_space(object);
    hssize_t count = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    H5T_class_t class = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    long long budget = *(const long long *)data;
    if (count > 0 && (class == H5T_FLOAT || class == H5T_INTEGER) && count <= budget / 8) {
      // In both precisions the readers convert to.
      double *values = malloc((size_t)count * sizeof(double));
      if (values) H5Dread(object, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
      if (values) H5Dread(object, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
  }
  H5Oclose(object);
  return 0;
}

/// 0: the trial read finished (errors or not); 1…999: the signal that
/// ended the child; 1000 + n: it exited with status n; -1: it did not finish
/// in time; -2: no child could be started, or the process runs under
/// ThreadSanitizer (the caller reads the file without the trial).
static inline int rbp_trial_read(const char *path, long long data_bytes, int timeout_ms) {
  if (dlsym((void *)0 /* RTLD_DEFAULT */, "__tsan_init") != NULL) return -2;
  // The fork copies the page tables of everything mapped, and the child's
  // writes copy pages: memory the allocator keeps but no one uses is handed
  // back first (a process that had freed large arrays forked several times
  // slower).
  malloc_trim(0);
  pid_t pid = fork();
  if (pid < 0) return -2;
  if (pid == 0) {
    // A crash here ends the child quietly (no inherited crash reporter, no
    // output), and the parent reports it; the error stack is not printed.
    int crashes[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP};
    for (unsigned i = 0; i < sizeof crashes / sizeof crashes[0]; i++) signal(crashes[i], SIG_DFL);
    int quiet = open("/dev/null", O_WRONLY);
    if (quiet >= 0) { dup2(quiet, STDOUT_FILENO); dup2(quiet, STDERR_FILENO); }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t access = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(access, H5F_CLOSE_STRONG);   // as the readers open files
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, access);
    if (file >= 0) {
      // The root through the file's own handle, as the readers do: first
      // the format, then everything.
      rbp_trial_attribute(file, "format", NULL, NULL);
      rbp_trial_attributes(file);
      H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_NATIVE, rbp_trial_object, &data_bytes, H5O_INFO_BASIC);
      H5Fclose(file);
    }
    // Shut the library down: freeing everything it allocated is where a
    // heap it overran without crashing is found (glibc aborts).
    H5close();
    _exit(0);
  }
  int status = 0;
  struct timespec pause = {0, 100000}, start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return -2;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long waited = (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (waited >= timeout_ms) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    nanosleep(&pause, NULL);
  }
  if (WIFSIGNALED(status)) return WTERMSIG(status);
  // The child always exits 0 by itself; another status is a tool's verdict
  // (a sanitizer's report ends the process with its own exit code).
  return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? 1000 + WEXITSTATUS(status) : 0;
}

#endif
