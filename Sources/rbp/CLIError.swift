// How the command line reports failures: every error from the library
// becomes one line on stderr naming the file, flag or value, and a non-zero
// exit (ArgumentParser prints the line and picks the code).

import ArgumentParser
import RBPCore
import RBPStore
import RBPTrain

/// Runs `body`, turning library errors into one-line ArgumentParser errors.
func reporting<R>(_ body: () throws -> R) throws -> R {
  do {
    return try body()
  } catch let error as HDF5Error {
    throw CLIFailure(message: error.description)
  } catch let error as FileSystemError {
    throw CLIFailure(message: error.description)
  } catch let error as RBPError {
    throw CLIFailure(message: error.description)
  } catch let error as ConfigError {
    throw CLIFailure(message: error.description)
  } catch let error as TrainingStopped {
    throw CLIFailure(message: error.description)
  }
}

/// A failure with its one-line message.
struct CLIFailure: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}
