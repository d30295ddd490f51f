// What `rbp inspect` says of a numeric array in a file: the least, largest
// and mean of its finite values, and how many are not finite.

/// The summary `rbp inspect` prints of a numeric array: the least, largest
/// and mean of its finite values, and how many are not finite.
public struct ArrayStatistics: Sendable, Equatable {
  /// The least finite value (NaN when there is none).
  public var min: Double
  /// The largest finite value (NaN when there is none).
  public var max: Double
  /// The mean of the finite values (0 when there is none).
  public var mean: Double
  /// How many values are NaN or infinite.
  public var nonFinite: Int

  /// The statistics of `values`; nil for an empty array.
  public init?(_ values: [Double]) {
    guard !values.isEmpty else { return nil }
    let finite = values.filter(\.isFinite)
    mean = finite.reduce(0, +) / Double(Swift.max(finite.count, 1))
    min = finite.min() ?? .nan
    max = finite.max() ?? .nan
    nonFinite = values.count - finite.count
  }
}
