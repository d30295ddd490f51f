// The `rbp` command line: parsing and printing only. Each subcommand lives
// in its own file and calls the library modules for the work.

import ArgumentParser

@main
struct RBP: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rbp",
    abstract: "Train recurrent networks by recurrent backpropagation and BPTT.",
    subcommands: [Datasets.self, Inspect.self, Bench.self])
}
