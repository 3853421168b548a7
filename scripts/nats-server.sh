#!/usr/bin/env bash
# Prints the absolute path of a nats-server binary of at least MIN_VERSION on stdout; every
# other message goes to stderr. Looks, in order, at:
#   1. $BEAMLINE_NATS_SERVER (an explicit choice: refused, not skipped, when unusable)
#   2. <repo>/.tools/nats-server/usr/sbin/nats-server (a previous fetch)
#   3. nats-server on PATH
#   4. Debian unstable's nats-server package, fetched with apt-get into a throw-away apt state
#      derived from this machine's own sources, then unpacked into <repo>/.tools/nats-server.
# The fetch needs apt-get and dpkg (a Debian machine); it changes nothing in the system's apt
# state. Exits 1 with the reason when no suitable binary can be had.
set -euo pipefail

# 2.12.7 - 2.12.9 have a KV restart bug; older lines silently drop newer stream settings.
readonly MIN_VERSION="2.12.10"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly repo_root
readonly tools_dir="$repo_root/.tools/nats-server"
readonly fetched_binary="$tools_dir/usr/sbin/nats-server"
work="" # temporary apt state of a fetch, removed on exit

log() { printf 'nats-server.sh: %s\n' "$*" >&2; }

refuse() {
  log "$*"
  log "Beamline needs nats-server >= $MIN_VERSION: 2.12.7-2.12.9 have a KV restart bug and older" \
    "lines drop newer stream settings. Install one and point BEAMLINE_NATS_SERVER at it."
  exit 1
}

# Prints the x.y.z version a binary reports ("nats-server: v2.15.1"), or nothing.
version_of() {
  "$1" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true
}

# True when version $1 is at least MIN_VERSION.
new_enough() {
  [[ -n "$1" ]] && [[ "$(printf '%s\n%s\n' "$MIN_VERSION" "$1" | sort -V | head -n 1)" == "$MIN_VERSION" ]]
}

# Succeeds (printing the path) when $1 is an executable nats-server of a usable version.
accept() {
  local binary="$1" version
  [[ -x "$binary" && ! -d "$binary" ]] || return 1
  version="$(version_of "$binary")"
  if new_enough "$version"; then
    realpath "$binary"
    return 0
  fi
  log "skipping $binary: it reports version '${version:-unknown}', need >= $MIN_VERSION"
  return 1
}

# Writes apt sources for the main Debian archive of this machine with the suite swapped to
# unstable, into directory $1. Security and updates suites are left out (unstable has none),
# and so are third-party repositories: only entries whose suite is this release's codename,
# with a main component, signed by Debian's archive keyring or by no explicit key.
write_unstable_sources() {
  local parts="$1" codename
  codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
  [[ -n "$codename" ]] || refuse "cannot tell this system's Debian codename from /etc/os-release"

  local deb822_files=() one_line_files=()
  shopt -s nullglob
  deb822_files=(/etc/apt/sources.list.d/*.sources)
  one_line_files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
  shopt -u nullglob

  if ((${#deb822_files[@]} > 0)); then
    # Keeps each matching stanza as written (Signed-By may span lines) except Types and Suites.
    awk -v codename="$codename" '
      function flush(   i, keep) {
        keep = n > 0 && enabled && has_deb && has_main && has_suite && debian_key
        if (keep) {
          for (i = 1; i <= n; i++) {
            if (lines[i] ~ /^Types:/) print "Types: deb"
            else if (lines[i] ~ /^Suites:/) print "Suites: unstable"
            else print lines[i]
          }
          print ""
        }
        n = 0; enabled = 1; has_deb = 0; has_main = 0; has_suite = 0; debian_key = 1; field = ""
      }
      function words_contain(value, word,   parts, count, i) {
        count = split(value, parts, /[ \t]+/)
        for (i = 1; i <= count; i++) if (parts[i] == word) return 1
        return 0
      }
      BEGIN { flush() }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        lines[++n] = $0
        if ($0 ~ /^[ \t]/) next
        field = tolower($0); sub(/:.*/, "", field)
        value = $0; sub(/^[^:]*:[ \t]*/, "", value)
        if (field == "types") has_deb = words_contain(value, "deb")
        else if (field == "suites") has_suite = words_contain(value, codename)
        else if (field == "components") has_main = words_contain(value, "main")
        else if (field == "enabled") enabled = tolower(value) != "no"
        else if (field == "signed-by") debian_key = value ~ /debian-archive-keyring/
      }
      END { flush() }
    ' "${deb822_files[@]}" >"$parts/unstable.sources"
  fi

  local file
  for file in "${one_line_files[@]}"; do
    [[ -f "$file" ]] || continue
    # deb [options] uri suite component...; options may carry their own signed-by key.
    awk -v codename="$codename" '
      $1 != "deb" { next }
      {
        options = ""; first = 2
        if ($2 ~ /^\[/) {
          for (first = 2; first <= NF; first++) {
            options = options (options == "" ? "" : " ") $first
            if ($first ~ /\]$/) { first++; break }
          }
        }
        if ($(first + 1) != codename) next
        if (options ~ /signed-by=/ && options !~ /debian-archive-keyring/) next
        has_main = 0
        for (i = first + 2; i <= NF; i++) if ($i == "main") has_main = 1
        if (!has_main) next
        print "deb " (options == "" ? "" : options " ") $first " unstable main"
      }
    ' "$file" >>"$parts/unstable.list"
  done

  if [[ ! -s "$parts/unstable.sources" && ! -s "$parts/unstable.list" ]]; then
    refuse "found no Debian archive entry for '$codename' in this system's apt sources to fetch" \
      "nats-server from"
  fi
}

# Downloads nats-server from Debian unstable and unpacks it into tools_dir.
fetch_from_debian_unstable() {
  command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
    refuse "no usable nats-server here, and no apt-get/dpkg to fetch one with"

  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/parts" "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
  # As root, apt downloads as its _apt user, which must reach and write these folders.
  chmod 755 "$work"
  chown _apt "$work/debs" 2>/dev/null || true
  : >"$work/empty.list"
  write_unstable_sources "$work/parts"

  local apt_options=(
    -o "Dir::Etc::SourceList=$work/empty.list"
    -o "Dir::Etc::SourceParts=$work/parts"
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache=$work/cache"
    -o "APT::Get::List-Cleanup=false"
  )
  log "fetching nats-server from Debian unstable (one-off, unpacked into .tools/)"
  # A failing extra source makes update exit non-zero while the archive's lists still load;
  # the download below is what decides.
  apt-get -q "${apt_options[@]}" update >&2 || log "apt-get update reported problems; trying the download anyway"
  (cd "$work/debs" && apt-get -q "${apt_options[@]}" download nats-server/unstable >&2) ||
    refuse "could not download nats-server from Debian unstable (see apt-get's message above)"

  local deb
  deb="$(find "$work/debs" -maxdepth 1 -name 'nats-server_*.deb' -print -quit)"
  [[ -n "$deb" ]] || refuse "apt-get download left no nats-server .deb behind"
  dpkg -x "$deb" "$work/root"
  [[ -x "$work/root/usr/sbin/nats-server" ]] || refuse "$(basename "$deb") has no usr/sbin/nats-server"

  rm -rf "$tools_dir"
  mkdir -p "$(dirname "$tools_dir")"
  mv "$work/root" "$tools_dir"
  log "unpacked $(basename "$deb") into $tools_dir"
}

resolve() {
  if [[ -n "${BEAMLINE_NATS_SERVER:-}" ]]; then
    [[ -x "$BEAMLINE_NATS_SERVER" && ! -d "$BEAMLINE_NATS_SERVER" ]] ||
      refuse "BEAMLINE_NATS_SERVER=$BEAMLINE_NATS_SERVER is not an executable file"
    accept "$BEAMLINE_NATS_SERVER" || refuse "BEAMLINE_NATS_SERVER=$BEAMLINE_NATS_SERVER is too old"
    return
  fi

  [[ -e "$fetched_binary" ]] && accept "$fetched_binary" && return
  local on_path
  on_path="$(command -v nats-server || true)"
  [[ -n "$on_path" ]] && accept "$on_path" && return

  # Concurrent callers (parallel test processes) wait for one fetch instead of racing on .tools/;
  # whoever waited finds the binary the first one unpacked.
  mkdir -p "$(dirname "$tools_dir")"
  if command -v flock >/dev/null; then
    exec 9>"$tools_dir.lock"
    flock 9
    [[ -e "$fetched_binary" ]] && accept "$fetched_binary" && return
  fi
  fetch_from_debian_unstable
  accept "$fetched_binary" || refuse "the fetched nats-server is not usable"
}

resolve
