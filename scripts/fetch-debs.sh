#!/usr/bin/env bash
# fetch-debs.sh LOCK DEST
# Downloads every .deb pinned in LOCK (the file `dhib lock` writes) with apt,
# verifies it against its pin, and places it at DEST/<filename>, making DEST
# a file:// repository for `dhib build`. Idempotent: pinned files already in
# place are only re-hashed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

# The machine's own apt configuration: binary packages come from its sources
# (setup.sh points APT_CONFIG at a source-package-only configuration).
unset APT_CONFIG

lock=$1
dest=$2
[[ -r $lock ]] || die "no lock file $lock (run: dhib lock)"

# name version arch filename sha256, one line per deb block.
mapfile -t pins < <(awk '
    /^deb "/        { split($0, a, "\""); name = a[2] }
    /^  version = / { split($0, a, "\""); ver = a[2] }
    /^  arch = /    { split($0, a, "\""); arch = a[2] }
    /^  filename = /{ split($0, a, "\""); file = a[2] }
    /^  sha256 = /  { split($0, a, "\""); sha = a[2] }
    /^}/ && name    { print name, ver, arch, file, sha; name = "" }' "$lock")
((${#pins[@]})) || die "$lock pins no packages"

missing=()
for line in "${pins[@]}"; do
    read -r name ver arch file sha <<<"$line"
    if [[ -f $dest/$file ]] && [[ $(sha256sum "$dest/$file" | cut -d' ' -f1) == "$sha" ]]; then
        continue
    fi
    missing+=("$line")
done
if ((${#missing[@]} == 0)); then
    log "already present ${#pins[@]} pinned .debs in ${dest#"$PWD"/}"
    exit 0
fi

dl=$(mktemp -d)
trap 'rm -rf "$dl"' EXIT
# apt downloads as the unprivileged _apt user when run as root.
if ((EUID == 0)) && id _apt >/dev/null 2>&1; then chown _apt "$dl"; fi
specs=()
for line in "${missing[@]}"; do
    read -r name ver arch file sha <<<"$line"
    specs+=("$name=$ver")
done
download() { (cd "$dl" && apt-get -q download "${specs[@]}") >"$dl/apt.log" 2>&1; }
if ! download; then
    # A fresh machine may have no package lists yet.
    if ((EUID == 0)); then apt-get -q update >/dev/null 2>&1 || true; fi
    download || {
        sed 's/^/    /' "$dl/apt.log" >&2
        die "apt cannot download some pinned versions; if Debian has superseded them, run \`dhib lock\` to pin the current ones"
    }
fi
for line in "${missing[@]}"; do
    read -r name ver arch file sha <<<"$line"
    # apt writes the epoch's colon as %3a.
    got="$dl/${name}_${ver/:/%3a}_${arch}.deb"
    [[ -f $got ]] || die "apt did not download $name $ver"
    actual=$(sha256sum "$got" | cut -d' ' -f1)
    [[ $actual == "$sha" ]] || die "$name $ver: expected sha256 $sha, got $actual"
    mkdir -p "$(dirname "$dest/$file")"
    mv -f "$got" "$dest/.$(basename "$file").part"
    mv -f "$dest/.$(basename "$file").part" "$dest/$file"
done
log "fetched ${#missing[@]} pinned .debs into ${dest#"$PWD"/}"
