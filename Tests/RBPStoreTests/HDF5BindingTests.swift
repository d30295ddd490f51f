// Proves the CHDF5 binding: a small float64 array written through the C
// API and read back (as float64 and converted to float32), using the shim's
// constants. The serial library is not thread-safe and other tests use it
// at the same time, so the calls hold the store's HDF5 lock.

import CHDF5
import Foundation
import RBPTestSupport
import Testing

@testable import RBPStore

@Suite("HDF5 binding")
struct HDF5BindingTests {
  @Test func roundTripThroughCAPI() throws {
    try HDF5.locked { try roundTrip() }
  }

  /// Files the store opens are not inherited by programs this process
  /// starts: an inherited descriptor would hold the file's lock after the
  /// store closes it.
  @Test func openFilesAreClosedInChildPrograms() throws {
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/inherit.h5"
    func descriptors() -> [Int32] {
      let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
      return entries.compactMap { entry in
        let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry)
        return target == path ? Int32(entry) : nil
      }
    }
    for opening in [
      { try HDF5File.create(path) }, { try HDF5File.open(path, writable: true) }, { try HDF5File.open(path) },
    ] {
      let file = try opening()
      let open = descriptors()
      try #require(!open.isEmpty, "the file's descriptor was not found")
      for fd in open { #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0, "descriptor \(fd) is inherited by children") }
      try file.close()
    }
  }

  func roundTrip() throws {
    let path = FileManager.default.temporaryDirectory
      .appendingPathComponent("rbp-binding-\(getpid()).h5").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    let values: [Double] = [1.5, -2, 3.25, 0, 1e-300, 7]
    var dims: [hsize_t] = [2, 3]

    let file = H5Fcreate(path, rbp_H5F_ACC_TRUNC(), rbp_H5P_DEFAULT(), rbp_H5P_DEFAULT())
    #expect(file >= 0)
    let space = H5Screate_simple(2, &dims, nil)
    let dset = H5Dcreate2(
      file, "values", rbp_H5T_IEEE_F64LE(), space,
      rbp_H5P_DEFAULT(), rbp_H5P_DEFAULT(), rbp_H5P_DEFAULT())
    #expect(dset >= 0)
    #expect(H5Dwrite(dset, rbp_H5T_NATIVE_DOUBLE(), rbp_H5S_ALL(), rbp_H5S_ALL(), rbp_H5P_DEFAULT(), values) >= 0)
    #expect(H5Dclose(dset) >= 0)
    #expect(H5Sclose(space) >= 0)
    #expect(H5Fclose(file) >= 0)

    let reopened = H5Fopen(path, rbp_H5F_ACC_RDONLY(), rbp_H5P_DEFAULT())
    #expect(reopened >= 0)
    let readSet = H5Dopen2(reopened, "values", rbp_H5P_DEFAULT())
    let readSpace = H5Dget_space(readSet)
    var readDims: [hsize_t] = [0, 0]
    #expect(H5Sget_simple_extent_dims(readSpace, &readDims, nil) == 2)
    #expect(readDims == dims)
    // Read as float32: the library converts on the fly.
    var floats = [Float](repeating: .nan, count: 6)
    #expect(H5Dread(readSet, rbp_H5T_NATIVE_FLOAT(), rbp_H5S_ALL(), rbp_H5S_ALL(), rbp_H5P_DEFAULT(), &floats) >= 0)
    #expect(floats == values.map { Float($0) })
    var doubles = [Double](repeating: .nan, count: 6)
    #expect(H5Dread(readSet, rbp_H5T_NATIVE_DOUBLE(), rbp_H5S_ALL(), rbp_H5S_ALL(), rbp_H5P_DEFAULT(), &doubles) >= 0)
    #expect(doubles == values)
    H5Sclose(readSpace)
    H5Dclose(readSet)
    H5Fclose(reopened)
  }
}
