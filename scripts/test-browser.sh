#!/usr/bin/env bash
# Renders a generated report in headless Chromium and checks the charts really draw:
# the DOM Chromium builds has the SVG marks, and the screenshot is not blank.
# Installs Debian's chromium when missing (needs root and apt). Not part of `npm test`.
#   npm run test:browser            (report from generated fixtures)
#   REPORT=path/to/report.html npm run test:browser   (check an existing report)
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/chromium.sh test:browser

out=$(mktemp -d /tmp/astrospec-browser.XXXXXX)
keep=${KEEP:-0}
cleanup() { [[ "$keep" == 1 ]] || rm -rf "$out"; }
trap cleanup EXIT

BROWSER="$browser" OUT="$out" node --import tsx scripts/test-browser.ts
