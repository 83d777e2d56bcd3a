# shellcheck shell=bash
# Helpers shared by the scripts in this directory. Sourced, never run.

# Every line a script prints starts with its name so that, inside CI logs,
# it is obvious which step produced it.
log() { printf '%s: %s\n' "${0##*/}" "$*"; }
die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }

# ensure_debs PKG...
# Installs the Debian packages that are not installed yet. Asking dpkg is a
# few milliseconds, so the common "all present" case costs nothing; apt-get
# update (seconds, and network) only runs when something is really missing.
ensure_debs() {
    local -a missing=()
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        if [[ $status == installed ]]; then
            log "already present $pkg"
        else
            missing+=("$pkg")
        fi
    done
    ((${#missing[@]})) || return 0

    if ((EUID != 0)); then
        die "missing Debian packages: ${missing[*]}
  install them as root with:
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
    fi

    # apt's chatter (progress, debconf notices) is only worth showing when
    # something went wrong.
    local out
    out=$(mktemp)
    if ! { apt-get -q update &&
        DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends \
            "${missing[@]}"; } >"$out" 2>&1; then
        cat "$out" >&2
        rm -f "$out"
        die "could not install: ${missing[*]}"
    fi
    rm -f "$out"
    for pkg in "${missing[@]}"; do
        log "installed $pkg"
    done
}
