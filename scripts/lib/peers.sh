# The real peers the tests drive, installed into the repository's ignored folders (and, where
# apt-get is there, Debian's chromium and redis-tools): the official Python and TypeScript MCP SDK
# clients, the MCP conformance suite, the MCP Inspector with playwright-core, Node 22 and the
# Traefik binary in tests/clients/, and promtool in .tools/. Exports CHROMIUM, PROMTOOL and
# REDIS_SERVER. Sourced by scripts/test and scripts/stack-test; `fail` must be defined by the caller.

peers_install() {
  local clients=tests/clients

  # Node packages, pinned by the committed lock file; reinstalled when the lock changes.
  if ! cmp -s "$clients/package-lock.json" "$clients/node_modules/.installed-lock.json"; then
    (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in $clients failed"
    cp "$clients/package-lock.json" "$clients/node_modules/.installed-lock.json"
  fi
  # Python packages in a virtual environment; reinstalled when requirements.txt changes.
  if ! cmp -s "$clients/requirements.txt" "$clients/.venv/requirements.txt"; then
    rm -rf "$clients/.venv"
    python3 -m venv "$clients/.venv" || fail "cannot create $clients/.venv (install python3-venv)"
    "$clients/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$clients/requirements.txt" \
      || fail "pip install -r $clients/requirements.txt failed"
    cp "$clients/requirements.txt" "$clients/.venv/requirements.txt"
  fi
  # Debian packages: apt_install PACKAGE, when apt-get is there.
  apt_install() {
    command -v apt-get >/dev/null || return 0
    local as_root=""
    [ "$(id -u)" = 0 ] || as_root=sudo
    $as_root apt-get install -y -q --no-install-recommends "$1" >/dev/null \
      || { $as_root apt-get update -q >/dev/null \
           && $as_root apt-get install -y -q --no-install-recommends "$1" >/dev/null; } \
      || fail "apt-get install $1 failed"
  }
  # The browser the Inspector test drives: Debian's chromium (CHROMIUM names another binary).
  chromium="${CHROMIUM:-/usr/bin/chromium}"
  [ -x "$chromium" ] || apt_install chromium
  [ -x "$chromium" ] || fail "chromium is missing: apt-get install chromium (or set CHROMIUM to a Chromium binary)"
  export CHROMIUM="$chromium"
  # promtool checks and unit-tests the alert rules of deploy/observability: taken from Debian's
  # prometheus package, unpacked into .tools/ rather than installed (installing would start a
  # Prometheus service on machines with systemd).
  promtool="${PROMTOOL:-.tools/prometheus/usr/bin/promtool}"
  if [ ! -x "$promtool" ] && command -v apt-get >/dev/null; then
    debs=.tools/debs
    rm -rf "$debs" && mkdir -p "$debs"
    download() { (cd "$debs" && apt-get download -q prometheus >/dev/null 2>&1); }
    as_root=""
    [ "$(id -u)" = 0 ] || as_root=sudo
    download || { $as_root apt-get update -q >/dev/null && download; } \
      || fail "apt-get download prometheus failed"
    dpkg-deb -x "$debs"/prometheus_*.deb .tools/prometheus || fail "cannot unpack the prometheus package"
    rm -rf "$debs"
  fi
  [ -x "$promtool" ] || fail "promtool is missing: apt-get install prometheus (or set PROMTOOL to a promtool binary)"
  PROMTOOL="$(cd "$(dirname "$promtool")" && pwd)/$(basename "$promtool")"
  export PROMTOOL
  # The Redis the replica tests share state on. Debian's redis-tools holds the server binary
  # (redis-check-rdb, which serves when it is called redis-server) without the redis-server
  # package's system service; the link in .tools/ gives it that name.
  redis="${REDIS_SERVER:-$(command -v redis-server || true)}"
  if [ -z "$redis" ]; then
    [ -x /usr/bin/redis-check-rdb ] || apt_install redis-tools
    [ -x /usr/bin/redis-check-rdb ] || fail "redis-server is missing: apt-get install redis-tools (or set REDIS_SERVER to a redis-server binary)"
    mkdir -p .tools
    ln -sf /usr/bin/redis-check-rdb .tools/redis-server
    redis="$PWD/.tools/redis-server"
  fi
  REDIS_SERVER="$redis"
  export REDIS_SERVER
  for tool in node_modules/.bin/node .venv/bin/python .venv/bin/traefik; do
    [ -x "$clients/$tool" ] || fail "$clients/$tool is missing after installation"
  done

}
