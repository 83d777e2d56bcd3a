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

# Each pin names its file in the repository pool. Fetching that path from the
# machine's own repositories (never a host name written here) keeps working
# after Debian supersedes a version: the index drops it at once, the pool keeps
# the file for a while longer. apt-helper checks the pinned sha256 itself.
repos() { apt-get indextargets --format '$(REPO_URI)' | sort -u; }
mapfile -t uris < <(repos)
if ((${#uris[@]} == 0)) && ((EUID == 0)); then
    # A fresh machine may have no package lists yet.
    apt-get -q update >/dev/null 2>&1 || true
    mapfile -t uris < <(repos)
fi
((${#uris[@]})) || die "apt knows no repositories to download from"

for line in "${missing[@]}"; do
    read -r name ver arch file sha <<<"$line"
    got="$dl/$(basename "$file")"
    fetched=
    for uri in "${uris[@]}"; do
        if /usr/lib/apt/apt-helper -q download-file "$uri$file" "$got" "SHA256:$sha" >>"$dl/apt.log" 2>&1; then
            fetched=1
            break
        fi
    done
    if [[ -z $fetched ]]; then
        sed 's/^/    /' "$dl/apt.log" >&2
        die "no repository has $name $ver ($file); if Debian has removed it, run \`dhib lock\` to pin the current versions"
    fi
    mkdir -p "$(dirname "$dest/$file")"
    mv -f "$got" "$dest/.$(basename "$file").part"
    mv -f "$dest/.$(basename "$file").part" "$dest/$file"
done
log "fetched ${#missing[@]} pinned .debs into ${dest#"$PWD"/}"
