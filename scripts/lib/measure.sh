# Shell helpers shared by bench/run and scripts/soak. Source after defining fail().

# Fails unless nothing listens on these loopback ports.
ports_free() { # port...
  local port
  for port in "$@"; do
    ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null ||
      fail "port $port is in use; stop whatever listens there (an earlier run?) and run again"
  done
}

# Waits up to SECONDS (10 unless given) for a URL to answer 2xx.
wait_for() { # url [seconds]
  for _ in $(seq 1 $((${2:-10} * 20))); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done
  fail "$1 did not answer"
}

# Replaces what stands between the lines <!-- NAME:begin --> and <!-- NAME:end --> in DOC with
# the contents of REPORT.
write_between_markers() { # doc name report
  local doc=$1 name=$2 report=$3
  grep -qxF "<!-- $name:begin -->" "$doc" && grep -qxF "<!-- $name:end -->" "$doc" ||
    fail "$doc has no <!-- $name:begin --> and <!-- $name:end --> lines to write between"
  awk -v report="$report" -v begin="<!-- $name:begin -->" -v end="<!-- $name:end -->" '
    $0 == begin {print; while ((getline line < report) > 0) print line; skip = 1; next}
    $0 == end {skip = 0}
    !skip' "$doc" > "$report.doc" && cp "$report.doc" "$doc"
  echo "$name: wrote the report into $doc" >&2
}
