# Sourced by test-browser.sh and test-web.sh: sets $browser to a headless-capable Chromium,
# installing Debian's package when none is on PATH (needs root and apt). $1 names the caller.
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$browser" ]]; then
  echo "$1: installing chromium (apt)"
  flock /tmp/astrospec-apt.lock sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null'
  browser=$(command -v chromium)
fi
echo "$1: $("$browser" --version 2>/dev/null | tail -1)"
