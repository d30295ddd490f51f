// The documentation's examples run as written: every ```sh block of every
// page in docs/ is run by bash -e, and every ```python block by the test
// Python (numpy, h5py and the rbp package, as scripts/setup.sh installs
// them), a page's blocks in order in one scratch folder, with the built rbp
// and that Python (as python3) first on PATH, and must succeed; a
// "# Warning: …" comment line under a command is output the block must
// print. Synopses of commands (placeholders, cluster launchers) are fenced
// ```text and not run.

import Foundation
import Testing
import RBPTestSupport

@Suite("Documentation examples")
struct DocsTests {
  /// The ```sh and ```python blocks of a Markdown page, as shell scripts
  /// (a Python block runs as `python3 -` with the block as its input).
  static func shellBlocks(_ text: String) -> [String] {
    var blocks: [String] = [], current: [String]? = nil, python = false
    for line in text.components(separatedBy: "\n") {
      if current == nil, line == "```sh" || line == "```python" { current = []; python = line == "```python"; continue }
      if current != nil, line == "```" {
        let body = current!.joined(separator: "\n")
        blocks.append(python ? "python3 - <<'RBP_DOCS_PYTHON'\n" + body + "\nRBP_DOCS_PYTHON" : body)
        current = nil
        continue
      }
      current?.append(line)
    }
    return blocks
  }

  @Test func everyShellExampleRuns() throws {
    let docs = repositoryRoot + "/docs"
    let pages = try FileManager.default.contentsOfDirectory(atPath: docs).filter { $0.hasSuffix(".md") }.sorted()
    let python = ProcessInfo.processInfo.environment["RBP_PYTHON"] ?? repositoryRoot + "/.venv/bin/python"
    try #require(FileManager.default.isExecutableFile(atPath: python),
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
    var ran = 0
    for page in pages {
      let text = try String(contentsOfFile: docs + "/" + page, encoding: .utf8)
      // A page's blocks run in order in one folder, as a reader runs them.
      let dir = try scratchFolder()
      defer { try? FileManager.default.removeItem(atPath: dir) }
      for (k, block) in Self.shellBlocks(text).enumerated() {
        let script = "set -e\ncd '\(dir)'\nexport PATH='\(tools)':\"$PATH\"\n" + block
        var r = try runProgram("/bin/bash", ["-c", script])
        // A child forked elsewhere between open and close may still hold it: retry.
        for _ in 0..<5 where r.status == 126 && r.err.contains("Text file busy") {
          usleep(200_000)
          r = try runProgram("/bin/bash", ["-c", script])
        }
        #expect(r.status == 0, "docs/\(page), example \(k + 1) failed: \(r.err)")
        for line in block.components(separatedBy: "\n") where line.hasPrefix("# Warning:") {
          #expect((r.out + r.err).contains(String(line.dropFirst(2))), "docs/\(page), example \(k + 1): no '\(line)' in \(r.err)")
        }
        ran += 1
      }
    }
    #expect(ran >= 2, "only \(ran) examples in docs/")
  }
}
