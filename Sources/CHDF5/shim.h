// The HDF5 C library as Swift sees it: <hdf5.h> plus static inline getters
// for the "constants" that are macros (often expanding to a call that opens
// the library first), which Swift cannot import. Nothing else lives here.
#ifndef RBP_CHDF5_SHIM_H
#define RBP_CHDF5_SHIM_H

#include <hdf5.h>
#include <fcntl.h>

// Property lists and selections.
static inline hid_t rbp_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t rbp_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t rbp_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t rbp_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t rbp_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
static inline hid_t rbp_H5P_GROUP_CREATE(void) { return H5P_GROUP_CREATE; }
static inline hid_t rbp_H5E_DEFAULT(void) { return H5E_DEFAULT; }

// File access flags.
static inline unsigned rbp_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned rbp_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned rbp_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned rbp_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }

// Native and standard types.
static inline hid_t rbp_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t rbp_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t rbp_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t rbp_H5T_NATIVE_INT8(void) { return H5T_NATIVE_INT8; }
static inline hid_t rbp_H5T_STD_I8LE(void) { return H5T_STD_I8LE; }
static inline hid_t rbp_H5T_NATIVE_UINT64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t rbp_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t rbp_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t rbp_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t rbp_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t rbp_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t rbp_H5T_C_S1(void) { return H5T_C_S1; }
static inline size_t rbp_H5T_VARIABLE(void) { return H5T_VARIABLE; }

// Object info fields, iteration orders and close degrees.
static inline unsigned rbp_H5O_INFO_BASIC(void) { return H5O_INFO_BASIC; }
static inline unsigned rbp_H5O_INFO_NUM_ATTRS(void) { return H5O_INFO_NUM_ATTRS; }

// Dataspace extents.
static inline hsize_t rbp_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }

// The file's descriptor is closed in programs this process starts: HDF5
// opens files without O_CLOEXEC, and a descriptor inherited by a child keeps
// the file's `flock` alive after this process closes it, so that opening the
// file again fails until the child ends. For the default (sec2) driver the
// handle is the descriptor; other drivers are left as they are.
static inline void rbp_close_on_exec(hid_t file) {
  hid_t access = H5Fget_access_plist(file);
  if (access < 0) return;
  hid_t driver = H5Pget_driver(access);
  H5Pclose(access);
  if (driver != H5FD_SEC2) return;
  void *handle = NULL;
  if (H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) < 0 || handle == NULL) return;
  int descriptor = *(int *)handle;
  int flags = fcntl(descriptor, F_GETFD);
  if (flags >= 0) fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC);
}

#endif
