# The real Keycloak the tests run: Keycloak's own server distribution from Maven Central
# (org.keycloak:keycloak-quarkus-dist), unpacked into .tools/keycloak-$KEYCLOAK_VERSION, started
# with `start-dev --import-realm` and the realm file keycloak/realm-mcp.json imported exactly as
# docker-compose.yml imports it (the same file, the same public host name and variables).
# Sourced by scripts/test; `fail` must be defined by the caller.

# The newest distribution Maven Central serves (docs/keycloak.md says why the realm fits it), and
# the minor version docker-compose.yml pins its image to.
KEYCLOAK_VERSION=26.7.3

# Unpacks the distribution into .tools/ once per version; the archive is kept in .tools/m2, the
# Maven repository of this checkout, so a second run downloads nothing.
keycloak_install() {
  local home=".tools/keycloak-$KEYCLOAK_VERSION"
  [ -x "$home/bin/kc.sh" ] && return 0
  command -v java >/dev/null || fail "java is missing: Keycloak $KEYCLOAK_VERSION needs Java 17 or newer (apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null || fail "mvn is missing: it fetches Keycloak's distribution from Maven Central (apt-get install maven)"
  local artifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:tar.gz"
  mvn -q -B -Dmaven.repo.local="$PWD/.tools/m2" dependency:get -Dartifact="$artifact" -Dtransitive=false \
    >/dev/null || fail "cannot fetch $artifact from Maven Central"
  local archive=".tools/m2/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz"
  [ -f "$archive" ] || fail "$archive is missing after the download"
  rm -rf "$home" && mkdir -p .tools
  tar -C .tools -xzf "$archive" || fail "cannot unpack $archive"
  [ -x "$home/bin/kc.sh" ] || fail "$home/bin/kc.sh is missing after unpacking"
}

# Starts Keycloak in the background on 127.0.0.1 with a fresh database and the realm imported,
# and exports what the tests need to reach it: KEYCLOAK_BASE, KEYCLOAK_MANAGEMENT,
# KEYCLOAK_ADMIN_PASSWORD, KEYCLOAK_GATE_SECRET, KEYCLOAK_DEMO_PASSWORD and KEYCLOAK_LOG. Its pid
# is in KEYCLOAK_PID. The tests wait for it to be ready.
keycloak_start() {
  local home=".tools/keycloak-$KEYCLOAK_VERSION"
  local port management
  read -r port management < <(python3 -c '
import socket
ports = []
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ports.append(s.getsockname()[1]); s.close()
print(*ports)')
  rm -rf "$home/data" && mkdir -p "$home/data/import"
  cp keycloak/realm-mcp.json "$home/data/import/realm-mcp.json"
  export KEYCLOAK_BASE="http://127.0.0.1:$port"
  export KEYCLOAK_MANAGEMENT="http://127.0.0.1:$management"
  export KEYCLOAK_ADMIN_PASSWORD=test-admin-password
  export KEYCLOAK_GATE_SECRET=test-gate-secret
  export KEYCLOAK_DEMO_PASSWORD=test-demo-password
  export KEYCLOAK_LOG="$PWD/target/keycloak.log"
  mkdir -p target
  # The environment of docker-compose.yml's keycloak service, with test secrets.
  env KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD="$KEYCLOAK_ADMIN_PASSWORD" \
    KC_HOSTNAME=https://auth.localhost KC_HOSTNAME_BACKCHANNEL_DYNAMIC=true \
    KC_PROXY_HEADERS=xforwarded KC_HTTP_ENABLED=true KC_HEALTH_ENABLED=true \
    MCP_RESOURCE=https://mcp.localhost/mcp MCP_GATE_SECRET="$KEYCLOAK_GATE_SECRET" \
    MCP_DPOP_DEMO_SECRET=test-dpop-demo-secret DEMO_PASSWORD="$KEYCLOAK_DEMO_PASSWORD" \
    "$home/bin/kc.sh" start-dev --import-realm --http-host=127.0.0.1 --http-port="$port" \
    --http-management-port="$management" >"$KEYCLOAK_LOG" 2>&1 &
  KEYCLOAK_PID=$!
}

# Stops the Keycloak keycloak_start started (and the JVM it runs).
keycloak_stop() {
  [ -n "${KEYCLOAK_PID:-}" ] || return 0
  pkill -TERM -P "$KEYCLOAK_PID" 2>/dev/null || true
  kill -TERM "$KEYCLOAK_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$KEYCLOAK_PID" 2>/dev/null || break
    sleep 0.1
  done
  pkill -KILL -P "$KEYCLOAK_PID" 2>/dev/null || true
  kill -KILL "$KEYCLOAK_PID" 2>/dev/null || true
  KEYCLOAK_PID=
}
