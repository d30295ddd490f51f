// The version of rbp: one constant, stamped into the files it writes and
// printed by `rbp --version`. CHANGELOG.md lists what each version changed.

/// The version of this package, as tagged in its repository.
public enum RBPVersion {
  /// "major.minor.patch"
  public static let string = "0.1.0"
}
