// The documentation's examples run as written: every ```sh block of the
// README and of every page in docs/ is run by bash -e, and every ```python
// block by the test Python (numpy, h5py and the rbp package, as
// scripts/setup.sh installs them), a page's blocks in order in one scratch
// folder (with copies of the repository's datasets/ and scripts/), with the
// built rbp and that Python (as python3) first on PATH, and must succeed.
// What a page shows a block printing is checked:
// - a "# Warning: …" comment line under a command must be printed;
// - a ```text block right after a block is its output: each of its lines
//   must begin, in order, with the first word of the line shown.
// Markers the reader does not see (HTML comments on a line of their own):
// - `<!-- docs-test setup: COMMAND -->` runs COMMAND before the next block
//   (to make a file the block reads, as an earlier step of the reader's
//   would have);
// - `<!-- docs-test skip: REASON -->` right before a block leaves it out.
// Synopses of commands (placeholders, cluster launchers) are fenced
// ```text and not run.

import Foundation
import RBPTestSupport
import Testing

@Suite("Documentation examples")
struct DocsTests {
  /// A runnable block of a page: its shell script (a Python block runs
  /// as `python3 -` with the block as its input), the setup commands
  /// before it, and the output the page shows for it.
  struct Block {
    var script: String
    var setup: [String] = []
    var shownOutput: [String]? = nil
  }

  /// The runnable blocks of a Markdown page, and how many were skipped.
  static func blocks(_ text: String) -> (run: [Block], skipped: Int) {
    var blocks: [Block] = [], skipped = 0, setup: [String] = [], skip = false
    var current: [String]? = nil, python = false, output: [String]? = nil, lastEnded = -2
    for (n, line) in text.components(separatedBy: "\n").enumerated() {
      if let body = output {
        if line == "```" {
          blocks[blocks.count - 1].shownOutput = body
          output = nil
        } else {
          output!.append(line)
        }
        continue
      }
      if current == nil {
        if line.hasPrefix("<!-- docs-test setup: "), line.hasSuffix(" -->") {
          setup.append(String(line.dropFirst("<!-- docs-test setup: ".count).dropLast(" -->".count)))
        } else if line.hasPrefix("<!-- docs-test skip: ") {
          skip = true
        } else if line == "```sh" || line == "```python" {
          current = []
          python = line == "```python"
        } else if line == "```text" && lastEnded == n - 1 && !blocks.isEmpty {
          output = []
        }
        continue
      }
      if line == "```" {
        let body = current!.joined(separator: "\n")
        current = nil
        lastEnded = n
        // A skipped block takes its setup with it.
        if skip {
          skipped += 1
          skip = false
          setup = []
          lastEnded = -2
          continue
        }
        blocks.append(
          Block(
            script: python ? "python3 - <<'RBP_DOCS_PYTHON'\n" + body + "\nRBP_DOCS_PYTHON" : body,
            setup: setup))
        setup = []
        continue
      }
      current!.append(line)
    }
    return (blocks, skipped)
  }

  /// The lines of `shown` missing from `printed`: each shown line's first
  /// word must begin a printed line, in order.
  static func missingLines(_ shown: [String], in printed: String) -> [String] {
    var rest = printed.components(separatedBy: "\n")[...]
    var missing: [String] = []
    for line in shown {
      guard let word = line.split(separator: " ").first else { continue }
      if let k = rest.firstIndex(where: { $0.hasPrefix(word) }) {
        rest = rest[(k + 1)...]
      } else {
        missing.append(line)
      }
    }
    return missing
  }

  /// The README and every page of docs/, as paths relative to docs/.
  static let pages: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/docs")) ?? []
    return ["../README.md"] + names.filter { $0.hasSuffix(".md") }.sorted()
  }()

  /// The pages with at least one runnable block: a page whose examples all
  /// disappeared (a fence misspelt, say) would otherwise pass unnoticed.
  @Test func pagesHaveExamples() throws {
    var runnable: [String] = []
    for page in Self.pages {
      let text = try String(contentsOfFile: repositoryRoot + "/docs/" + page, encoding: .utf8)
      if !Self.blocks(text).run.isEmpty { runnable.append(page) }
    }
    for page in [
      "../README.md", "getting-started.md", "training.md", "python.md", "trajectories.md", "steady-states.md",
    ] {
      #expect(runnable.contains(page), "\(page) has no runnable example")
    }
  }

  /// Each page's blocks, in order, in a folder of its own; pages run in
  /// parallel.
  @Test(arguments: DocsTests.pages)
  func everyShellExampleRuns(page: String) throws {
    let python = ProcessInfo.processInfo.environment["RBP_PYTHON"] ?? repositoryRoot + "/.venv/bin/python"
    try #require(
      FileManager.default.isExecutableFile(atPath: python),
      "no Python with numpy and h5py: run scripts/setup.sh (or scripts/test.sh), or set RBP_PYTHON")
    // A folder with rbp and python3, as the docs call them.
    let tools = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: tools) }
    try FileManager.default.createSymbolicLink(atPath: tools + "/rbp", withDestinationPath: rbpBinary)
    // A venv's interpreter finds its packages from the path it is called
    // by, so python3 is a script that calls it, not a link.
    // Written through a close-on-exec descriptor: one inherited by a child
    // another test spawns meanwhile would make running it fail with
    // "Text file busy".
    let wrapper = Array("#!/bin/sh\nexec '\(python)' \"$@\"\n".utf8)
    let fd = open(tools + "/python3", O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o755)
    try #require(fd >= 0)
    _ = wrapper.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    let text = try String(contentsOfFile: repositoryRoot + "/docs/" + page, encoding: .utf8)
    // A page's blocks run in order in one folder, as a reader runs them.
    let dir = try scratchFolder()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // Copies, not links: a sweep spec names its data relative to itself.
    for folder in ["datasets", "scripts"] {
      try FileManager.default.copyItem(atPath: repositoryRoot + "/" + folder, toPath: dir + "/" + folder)
    }
    let name = page.hasPrefix("../") ? String(page.dropFirst(3)) : "docs/" + page
    let (blocks, skipped) = Self.blocks(text)
    for (k, block) in blocks.enumerated() {
      let prelude = "set -e\ncd '\(dir)'\nexport PATH='\(tools)':\"$PATH\"\n"
      for command in block.setup {
        let r = try runProgram("/bin/bash", ["-c", prelude + command])
        #expect(r.status == 0, "\(name), setup before example \(k + 1) failed: \(command): \(r.err)")
      }
      let script = prelude + block.script
      var r = try runProgram("/bin/bash", ["-c", script])
      // A child forked elsewhere between open and close may still hold it: retry.
      for _ in 0..<5 where r.status == 126 && r.err.contains("Text file busy") {
        usleep(200_000)
        r = try runProgram("/bin/bash", ["-c", script])
      }
      #expect(r.status == 0, "\(name), example \(k + 1) failed: \(r.err)")
      for line in block.script.components(separatedBy: "\n") where line.hasPrefix("# Warning:") {
        #expect(
          (r.out + r.err).contains(String(line.dropFirst(2))), "\(name), example \(k + 1): no '\(line)' in \(r.err)")
      }
      if let shown = block.shownOutput {
        let missing = Self.missingLines(shown, in: r.out)
        #expect(missing.isEmpty, "\(name), example \(k + 1): the output shown is not printed: \(missing) in\n\(r.out)")
      }
    }
    print("documentation examples of \(name): \(blocks.count) run, \(skipped) not run (marked)")
  }
}

@Suite("Documentation example markers")
struct DocsMarkerTests {
  @Test func markersSetUpSkipAndShowOutput() {
    let page = """
      Text.
      <!-- docs-test setup: touch a.txt -->
      ```sh
      ls a.txt
      ```
      ```text
      a.txt
      ```
      <!-- docs-test setup: sbatch --wrap true -->
      <!-- docs-test skip: needs a cluster -->
      ```sh
      srun rbp
      ```
      ```python
      print(1)
      ```
      ```text
      1
      ```

      ```text
      a synopsis
      ```
      """
    let (blocks, skipped) = DocsTests.blocks(page)
    #expect(skipped == 1)
    #expect(blocks.count == 2)
    #expect(blocks[0].setup == ["touch a.txt"])
    #expect(blocks[0].script == "ls a.txt")
    #expect(blocks[0].shownOutput == ["a.txt"])
    #expect(blocks[1].setup.isEmpty)  // the skipped block's setup went with it
    #expect(blocks[1].script.hasPrefix("python3 - <<"))
    #expect(blocks[1].shownOutput == ["1"])  // and the synopsis after a blank line is no one's output
  }

  @Test func shownOutputIsMatchedLineByLineInOrder() {
    let printed = "lr  runs mean\n0.03 9 0.1\n0.01 9 0.2\n"
    #expect(DocsTests.missingLines(["lr runs", "0.03 9 0.5", "0.01 9 0.7"], in: printed).isEmpty)
    #expect(DocsTests.missingLines(["lr runs", "0.01 9", "0.03 9"], in: printed) == ["0.03 9"])
    #expect(DocsTests.missingLines(["lr", "0.3 9"], in: printed) == ["0.3 9"])
  }
}
