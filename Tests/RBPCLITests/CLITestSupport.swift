// Running the built `rbp` binary from the command-line tests (the binary,
// scratch folders and Python are found by RBPTestSupport).

import RBPTestSupport

/// Runs `rbp` with arguments; returns status, stdout, stderr.
@discardableResult
func rbp(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
  try runProgram(rbpBinary, arguments)
}
