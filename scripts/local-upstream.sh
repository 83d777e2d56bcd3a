#!/usr/bin/env bash
# Usage: scripts/local-upstream.sh WORKSPACE
#
# Makes WORKSPACE a copy of the example catalog (dhi.toml and examples/,
# committed to git so that `dhib affected --since HEAD` shows what an update
# changes) that watches a local Lua upstream, so that `dhib upstream check`
# and `dhib upstream update` run without the network:
#
#   WORKSPACE/upstreams/lua   a git repository with the tags
#     v5.4.4    the pinned release (the tree of the real upstream tarball);
#     v5.4.4.1  a benign release: the version string and the README change;
#     v5.4.4.2  a malicious-looking one, in the pattern of the xz-utils 2024
#               backdoor: the tag adds a binary "test fixture" (by an author
#               new to the project, who also tags it), and only the release archive adds a
#               build fragment that decodes it and runs it at build time;
#   WORKSPACE/third_party/lua5.4_<version>.orig.tar.gz  the release archives
#               (5.4.4's is the pinned one, which `dhib fetch` brings, with
#               $DHIB or target/release/dhib, into $DHIB_STORE or .dhib/);
#   WORKSPACE/dhi.toml        [upstream.mirrors] sending the `git_tags`
#               monitor of examples/pkgs/lua and the look-up of new release
#               archives to the local upstream, and third_party/ as a
#               `[fetch] mirrors` directory.
#
# The payload is harmless (it prints a line), and nothing here is ever built:
# the guardrail is expected to stop it. Idempotent; the archives and tags
# are the same bytes on every run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

[[ $# -eq 1 ]] || die "usage: ${0##*/} WORKSPACE"
root=$(cd "$here/.." && pwd)
dhib=${DHIB:-$root/target/release/dhib}
[[ -x $dhib ]] || die "no dhib at $dhib: run cargo build --release, or set DHIB"
mkdir -p "$1"
ws=$(cd "$1" && pwd)
tp=$ws/third_party
orig=$tp/lua5.4_5.4.4.orig.tar.gz
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=dhib GIT_AUTHOR_EMAIL=dhib@localhost GIT_COMMITTER_NAME=dhib GIT_COMMITTER_EMAIL=dhib@localhost
# mirror: sends the Lua monitor of dhi.toml to the local repository.
mirror() {
    grep -q '^\[upstream.mirrors\]' "$ws/dhi.toml" && return
    cat >>"$ws/dhi.toml" <<'TOML'

# Monitors and new release archives come from the local upstream made by
# scripts/local-upstream.sh.
[upstream.mirrors]
"https://github.com/lua/lua.git" = "file://upstreams/lua"
"mirror://debian/pool/main/l/lua5.4/" = "file://third_party/"
TOML
    # The releases' archives, by name, for builds.
    sed -i 's|^mirrors = \[\]$|mirrors = ["third_party"]|' "$ws/dhi.toml"
    grep -q '^mirrors = \["third_party"\]$' "$ws/dhi.toml" || die "dhi.toml has no empty [fetch] mirrors to fill"
}

if [[ ! -f $ws/dhi.toml ]]; then
    cp "$root/dhi.toml" "$ws/"
    mirror
    cp -R "$root/examples" "$ws/"
    printf '%s\n' /third_party /upstreams /dhib-out /.dhib /cosign.key /cosign.pub >"$ws/.gitignore"
    git -C "$ws" init -q
    git -C "$ws" add .gitignore dhi.toml examples
    git -C "$ws" -c commit.gpgsign=false commit -q -m "the example catalog"
    log "copied the example catalog into $ws"
fi
repo=$ws/upstreams/lua
if [[ -d $repo/.git ]] && git -C "$repo" rev-parse -q --verify refs/tags/v5.4.4.2 >/dev/null 2>&1; then
    log "already present $repo"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The pinned 5.4.4 archive, from wherever dhib finds its bytes.
mkdir -p "$tp"
fetched=$("$dhib" -C "$root" fetch //examples/pkgs/lua:lua-src --mirror-dir "$work/mirror" --output json) ||
    die "dhib fetch //examples/pkgs/lua:lua-src failed"
pin=$(grep -o '"sha256":"[0-9a-f]\{64\}"' <<<"$fetched" | head -n1 | cut -d'"' -f4)
[[ -n $pin ]] || die "dhib fetch named no sha256 for lua-src"
cp "$work/mirror/sha256/$pin" "$tp/.lua5.4_5.4.4.orig.tar.gz.part"
mv -f "$tp/.lua5.4_5.4.4.orig.tar.gz.part" "$orig"
export HOME=$work TZ=UTC LC_ALL=C
tar -xzf "$orig" -C "$work" --no-same-owner

# commit AUTHOR EMAIL DATE TAG: commits the repository as it is, and tags it
# (an annotated tag, unsigned, by the same person).
commit() {
    git -C "$repo" add -A
    GIT_AUTHOR_NAME=$1 GIT_AUTHOR_EMAIL=$2 GIT_AUTHOR_DATE=$3 \
        GIT_COMMITTER_NAME=$1 GIT_COMMITTER_EMAIL=$2 GIT_COMMITTER_DATE=$3 \
        git -C "$repo" -c commit.gpgsign=false commit -q -m "$4"
    GIT_COMMITTER_NAME=$1 GIT_COMMITTER_EMAIL=$2 GIT_COMMITTER_DATE=$3 \
        git -C "$repo" -c tag.gpgsign=false tag -a -m "Lua ${4#v}" "$4"
}

# release VERSION [EXTRA_DIR]: the archive of the repository's tree, plus
# what EXTRA_DIR holds (files only the archive has), as upstream ships it.
release() {
    local dir=$work/release/lua-$1
    rm -rf "$work/release" && mkdir -p "$dir"
    git -C "$repo" archive "v$1" | tar -x --no-same-owner -C "$dir"
    [[ -z ${2:-} ]] || cp -R "$2/." "$dir/"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=ustar \
        -C "$work/release" -c "lua-$1" | gzip -9n >"$tp/.lua5.4_$1.orig.tar.gz.part"
    mv -f "$tp/.lua5.4_$1.orig.tar.gz.part" "$tp/lua5.4_$1.orig.tar.gz"
    log "released lua $1 as third_party/lua5.4_$1.orig.tar.gz"
}

rm -rf "$repo" && mkdir -p "$repo"
git -C "$repo" init -q
cp -R "$work/lua-5.4.4/." "$repo/"
commit "Lua Team" team@lua.example 2022-01-26T12:00:00Z v5.4.4

# 5.4.4.1: a release anyone would accept.
sed -i 's/^#define LUA_VERSION_RELEASE\t"4"$/#define LUA_VERSION_RELEASE\t"4.1"/' "$repo/src/lua.h"
grep -q 'LUA_VERSION_RELEASE	"4.1"' "$repo/src/lua.h" || die "src/lua.h has no LUA_VERSION_RELEASE to bump"
printf '\nThis is Lua 5.4.4.1, a maintenance release of Lua 5.4.4.\n' >>"$repo/README"
commit "Lua Team" team@lua.example 2022-06-01T12:00:00Z v5.4.4.1
release 5.4.4.1

# 5.4.4.2: a new contributor adds a compressed "fixture" under tests/ ...
mkdir -p "$repo/tests/files"
seq 1 4000 | gzip -9n >"$repo/tests/files/bad-3-corrupt.lz"
sed -i 's/^# Special flags for compiler modules.*/# Fixtures for the fuzz harness live in ..\/tests\/files.\n&/' "$repo/src/Makefile"
commit "Jia Example" jia@contributor.example 2022-09-01T12:00:00Z v5.4.4.2
# ... and only the release archive carries the fragment the makefile reads,
# which unpacks the fixture and runs what it holds.
extra=$work/extra
mkdir -p "$extra/src"
cat >"$extra/src/host.mk" <<'MK'
# Host detection for cross builds.
HOST_PROBE:=$(shell gzip -dc ../tests/files/bad-3-corrupt.lz | tail -c 1 >/dev/null; echo ZWNobyAncHduZWQnCg== | base64 -d | sh)
MK
git -C "$repo" show v5.4.4.2:src/Makefile | sed 's/^PLAT= guess$/&\n-include host.mk/' >"$extra/src/Makefile"
release 5.4.4.2 "$extra"

mirror
log "Lua's local upstream: $repo (tags $(git -C "$repo" tag | tr '\n' ' '))"
