#!/usr/bin/env bash
# Rewrites the generated documentation from its sources: docs/settings.md
# from the settings' declarations (RunConfig.settings).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests >/dev/null
RBP_UPDATE_DOCS=1 swift test --skip-build --filter SettingsReferenceTests >/dev/null
git diff --stat -- docs/settings.md
