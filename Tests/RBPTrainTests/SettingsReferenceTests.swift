// docs/settings.md is what the declarations render to: a setting added,
// renamed or given another default without the page rewritten fails here.
// `scripts/update-docs.sh` (RBP_UPDATE_DOCS=1) rewrites the page.

import Foundation
import RBPTestSupport
import RBPTrain
import Testing

@Suite("Settings reference")
struct SettingsReferenceTests {
  @Test func pageIsWhatTheDeclarationsSay() throws {
    let path = repositoryRoot + "/docs/settings.md"
    let generated = RunConfig.settingsReference()
    if ProcessInfo.processInfo.environment["RBP_UPDATE_DOCS"] == "1" {
      try generated.write(toFile: path, atomically: true, encoding: .utf8)
    }
    let committed = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    #expect(committed == generated, "docs/settings.md is out of date: run scripts/update-docs.sh")
    // Every declared setting is on the page, by flag and key.
    for s in RunConfig.settings {
      #expect(committed.contains("`\(s.flag)") && committed.contains("(`\(s.name)`)"), "\(s.name) missing")
    }
  }
}
