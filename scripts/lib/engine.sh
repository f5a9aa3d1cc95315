# A Docker engine of the stack stage's own (scripts/stack-test), run by the rules of the build
# machines: Debian's docker.io engine started by hand, its data, exec root, socket and pid file in
# .tools/engine, no change to the host's firewall, routing or forwarding (no default bridge, no
# iptables), and stopped by its pid. Compose v2 (`docker compose`) is built from its Go source as
# a CLI plugin in .tools/. Sourced; `fail` must be defined by the caller.

# The Compose release built as the `docker compose` plugin (from the Go module proxy).
COMPOSE_VERSION=v5.6.0

ENGINE_DIR="$PWD/.tools/engine"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs Debian's engine (and debootstrap, which makes the stand-in base image) when missing.
engine_install() {
  local missing=""
  command -v dockerd >/dev/null || missing="$missing docker.io"
  command -v debootstrap >/dev/null || missing="$missing debootstrap"
  command -v docker >/dev/null || missing="$missing docker-cli"
  [ -z "$missing" ] && return 0
  command -v apt-get >/dev/null || fail "missing:$missing (install Debian's docker.io and debootstrap)"
  # shellcheck disable=SC2086
  as_root apt-get install -y -q --no-install-recommends $missing >/dev/null \
    || { as_root apt-get update -q >/dev/null \
         && as_root apt-get install -y -q --no-install-recommends $missing >/dev/null; } \
    || fail "apt-get install$missing failed"
  command -v dockerd >/dev/null || fail "dockerd is missing after installing docker.io"
  command -v debootstrap >/dev/null || fail "debootstrap is missing after installing it"
}

# Builds `docker compose` from source once per version into .tools/compose-$COMPOSE_VERSION and
# points the Docker CLI at it through DOCKER_CONFIG (the user's own ~/.docker is left alone).
compose_install() {
  local dir="$PWD/.tools/compose-$COMPOSE_VERSION"
  if [ ! -x "$dir/cli-plugins/docker-compose" ]; then
    command -v go >/dev/null || fail "go is missing: Compose $COMPOSE_VERSION is built from source (install Go 1.24 or newer)"
    local module="github.com/docker/compose/v5@$COMPOSE_VERSION" src
    # `go install module@version` refuses a module with replace directives: build it in a copy.
    src=$(go mod download -json "$module" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') \
      || fail "cannot download $module from the Go module proxy"
    rm -rf "$dir.src" && cp -r "$src" "$dir.src" && chmod -R u+w "$dir.src"
    mkdir -p "$dir/cli-plugins"
    (cd "$dir.src" && CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" \
      -o "$dir/cli-plugins/docker-compose" ./cmd) >"$dir.build.log" 2>&1 \
      || fail "building Compose $COMPOSE_VERSION failed ($dir.build.log)"
    rm -rf "$dir.src"
  fi
  export DOCKER_CONFIG="$dir"
  docker compose version >/dev/null 2>&1 || fail "docker compose does not run (DOCKER_CONFIG=$dir)"
}

# Starts the engine in the background and waits until it answers; DOCKER_HOST points at it.
engine_start() {
  mkdir -p "$ENGINE_DIR/data" "$ENGINE_DIR/exec"
  [ -f "$ENGINE_DIR/dockerd.pid" ] && engine_stop
  printf '{"deprecated-key-path": "%s/key.json"}\n' "$ENGINE_DIR" >"$ENGINE_DIR/daemon.json"
  export DOCKER_HOST="unix://$ENGINE_DIR/docker.sock"
  as_root dockerd --config-file "$ENGINE_DIR/daemon.json" \
    --data-root "$ENGINE_DIR/data" --exec-root "$ENGINE_DIR/exec" \
    --pidfile "$ENGINE_DIR/dockerd.pid" -H "$DOCKER_HOST" \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none \
    --storage-driver=overlay2 >"$ENGINE_DIR/dockerd.log" 2>&1 &
  for _ in $(seq 1 100); do
    docker version >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "the Docker engine did not start within 20 s ($ENGINE_DIR/dockerd.log)"
}

# Stops every container, then the engine by its pid, and removes what it leaves behind: the nsfs
# mounts under its exec root and its empty folders under /run.
engine_stop() {
  local pid
  pid=$(cat "$ENGINE_DIR/dockerd.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    local running
    running=$(docker ps -q 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -n "$running" ] && docker kill $running >/dev/null 2>&1
    as_root kill -TERM "$pid"
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && as_root kill -KILL "$pid"
  fi
  rm -f "$ENGINE_DIR/dockerd.pid"
  # containerd, started by the engine, stops with it; its shims may outlive it by a moment.
  grep " $ENGINE_DIR/exec" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r mount; do
    as_root umount -l "$mount" 2>/dev/null || true
  done
  rm -rf "$ENGINE_DIR/exec"
  for dir in /run/docker /run/containerd /var/run/docker /var/run/containerd; do
    [ -d "$dir" ] && find "$dir" -depth -type d -empty -delete 2>/dev/null
  done
  return 0
}

# What the stage leaves behind that it should not: containers, networks, mounts or processes.
# Prints one line per leftover; prints nothing when clean.
# Shims exit a moment after the engine, so it looks again for up to 5 s before reporting.
engine_leftovers() {
  local found
  for _ in $(seq 1 50); do
    found=$(
      grep " $ENGINE_DIR" /proc/mounts | cut -d' ' -f2 | sed 's/^/mount: /'
      pgrep -f "$ENGINE_DIR" | while read -r pid; do
        # A zombie is already gone but for its parent's reaping.
        [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] || ps -o pid=,args= -p "$pid" | sed 's/^ */process: /'
      done
      [ -d "$ENGINE_DIR/exec" ] && echo "folder: $ENGINE_DIR/exec"
    )
    [ -z "$found" ] && return 0
    sleep 0.1
  done
  echo "$found"
}
