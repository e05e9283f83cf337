#!/usr/bin/env bash
# Classifies real files in the browser page (npm run web) with headless Chromium and compares the
# table the page renders with `astrospec classify` on the same files; also checks bad inputs give
# one clear message. Installs Debian's chromium when missing (needs root and apt). Not part of `npm test`.
#   npm run test:web
#   KEEP=1 npm run test:web     (keep the work folder: CLI predictions, generated bad files)
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/chromium.sh test:web

out=$(mktemp -d /tmp/astrospec-web.XXXXXX)
keep=${KEEP:-0}
cleanup() { [[ "$keep" == 1 ]] && echo "test:web: kept $out" || rm -rf "$out"; }
trap cleanup EXIT

# The CLI the page is compared with runs from dist/.
[[ -f dist/cli/main.js ]] || npm run -s build:ts
OUT="$out/web" node --import tsx scripts/build-web.ts
BROWSER="$browser" WEB_DIST="$out/web" OUT="$out" node --import tsx scripts/test-web.ts
