#!/usr/bin/env bash
# Prepares a machine for building and testing dhib:
#   1. the Debian tools the build and the tests drive (OCI tooling, sandboxes,
#      a static busybox for minimal images, archivers, readelf);
#   2. the real upstream source tarballs of zlib, lua5.4 and sqlite3 in
#      third_party/, used as realistic inputs for hardened-image builds.
#
# Idempotent: when everything is in place it only asks dpkg and hashes three
# tarballs, so it is cheap enough to run before every test session.
#
# The tarballs come from Debian *source* packages because Debian's mirrors are
# the only place this project's machines can download from. Debian keeps the
# upstream tarball byte-for-byte as its ".orig" file, and the chain
# Release signature -> Sources index -> .dsc -> tarball authenticates it.
# The sha256 pins in scripts/third_party.sha256 additionally freeze which
# upstream release we build against.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

pins="$here/third_party.sha256"
tp="$root/third_party"

# --- 1. system packages ----------------------------------------------------

ensure_debs umoci skopeo docker-registry runc bubblewrap oci-image-tool \
    busybox-static ninja-build git xz-utils zstd bzip2 unzip ca-certificates apt-utils binutils \
    openssl python3

# --- 2. upstream tarballs ----------------------------------------------------

[[ -r $pins ]] || die "missing pin file $pins"

# Pinned file names, in pin-file order. The Debian source package is the part
# of the name before the first "_" (Debian's own naming rule).
mapfile -t pinned < <(awk 'NF == 2 && $1 !~ /^#/ { print $2 }' "$pins")
((${#pinned[@]})) || die "$pins lists no tarballs"

pinned_sha() { awk -v f="$1" '$2 == f { print $1 }' "$pins"; }

# Lists the pinned tarballs that are absent or differ from their pin.
wanted() {
    local f
    for f in "${pinned[@]}"; do
        if [[ ! -f $tp/$f ]] ||
            [[ $(sha256sum "$tp/$f" | cut -d' ' -f1) != "$(pinned_sha "$f")" ]]; then
            printf '%s\n' "$f"
        fi
    done
}

# Builds a private apt configuration in $apt_dir that knows the deb-src twins
# of the machine's own sources. Nothing of the system's apt setup is changed:
# the machine's apt.conf.d is still read (proxies, validity settings, ...),
# but sources, lists and caches are redirected to private directories.
make_private_apt() {
    local SL SP MAIN f
    eval "$(apt-config shell SL Dir::Etc::sourcelist/f SP Dir::Etc::sourceparts/d \
        MAIN Dir::Etc::main/f)"

    rm -rf "$apt_dir/parts"
    mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"

    # deb822 files: every stanza becomes a source stanza.
    for f in "${SP%/}"/*.sources; do
        [[ -f $f ]] || continue
        sed -E 's/^(Types:).*/\1 deb-src/I' "$f" >"$apt_dir/parts/${f##*/}"
    done
    # One-line-style files: "deb ..." lines become "deb-src ...". Lines that
    # already were deb-src would now be duplicates; apt warns about those.
    for f in "$SL" "${SP%/}"/*.list; do
        [[ -f $f ]] || continue
        sed -nE 's/^[[:space:]]*deb(-src)?([[:space:]])/deb-src\2/p' "$f" |
            awk '!seen[$0]++' >"$apt_dir/parts/${f##*/}.tmp"
        if [[ -s $apt_dir/parts/${f##*/}.tmp ]]; then
            mv "$apt_dir/parts/${f##*/}.tmp" "$apt_dir/parts/${f##*/}"
        else
            rm "$apt_dir/parts/${f##*/}.tmp"
        fi
    done
    compgen -G "$apt_dir/parts/*" >/dev/null ||
        die "no apt sources found under $SL or $SP"

    # Dir::Etc::main points back at this file so that apt reads it once more
    # after the system's apt.conf.d: only then can the #clear lines drop the
    # system's update hooks (cache cleaners, appstream/packagekit refreshes),
    # which must not run for a private, source-only index.
    {
        [[ -f $MAIN ]] && printf '#include "%s";\n' "$MAIN"
        cat <<CONF
Dir::Etc::main "$apt_dir/apt.conf";
Dir::Etc::sourcelist "/dev/null";
Dir::Etc::sourceparts "$apt_dir/parts";
Dir::State::lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
Acquire::GzipIndexes "true";
Acquire::Languages "none";
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
CONF
    } >"$apt_dir/apt.conf"
}

# Value of the sha256 that the .dsc file $1 records for the file named $2.
dsc_sha256() {
    awk -v f="$2" '
        /^Checksums-Sha256:/ { on = 1; next }
        on && /^[^ ]/        { on = 0 }
        on && $3 == f        { print $1; exit }' "$1"
}

fetch() {
    local -a files=("$@") pkgs=()
    local f pkg dsc want got dl

    for f in "${files[@]}"; do
        pkg=${f%%_*}
        [[ " ${pkgs[*]} " == *" $pkg "* ]] || pkgs+=("$pkg")
    done

    apt_dir="$tp/.apt"
    make_private_apt
    export APT_CONFIG="$apt_dir/apt.conf"

    # A deb-src twin of a third-party repository may not exist; that must
    # not stop us as long as Debian's own sources answer, so errors here are
    # reported and the real verdict is left to "apt-get source".
    if ! apt-get -q update >"$apt_dir/update.log" 2>&1; then
        log "warning: apt-get update reported problems (continuing):"
        grep -E '^(E|W):' "$apt_dir/update.log" | sed 's/^/    /' >&2 || true
    fi

    dl=$(mktemp -d "$apt_dir/dl.XXXXXX")
    # shellcheck disable=SC2064 # expand now: $dl is local
    trap "rm -rf '$dl'" EXIT
    # apt downloads as the unprivileged _apt user when run as root; give it
    # the download directory so the fetch stays sandboxed.
    if ((EUID == 0)) && id _apt >/dev/null 2>&1; then
        chown _apt "$dl"
    fi
    if ! (cd "$dl" && apt-get -qq source --download-only --only-source "${pkgs[@]}" \
        >"$apt_dir/source.log" 2>&1); then
        sed 's/^/    /' "$apt_dir/source.log" >&2
        die "apt-get source ${pkgs[*]} failed (apt sources: $apt_dir/parts)"
    fi

    for f in "${files[@]}"; do
        pkg=${f%%_*}
        # Exactly one .dsc per package (apt picked the newest version).
        dsc=$(compgen -G "$dl/${pkg}_*.dsc" | head -n1) ||
            die "$pkg: apt-get source produced no .dsc"
        if [[ ! -f $dl/$f ]]; then
            die "$pkg: Debian's current source ($(basename "$dsc")) no longer ships $f;
  it ships: $(cd "$dl" && compgen -G "${pkg}_*.orig*.tar.*" | tr '\n' ' ')
  review the new upstream release and update $pins"
        fi
        want=$(dsc_sha256 "$dsc" "$f")
        [[ -n $want ]] || die "$f is not listed in $(basename "$dsc")"
        got=$(sha256sum "$dl/$f" | cut -d' ' -f1)
        [[ $got == "$want" ]] ||
            die "$f does not match $(basename "$dsc"): expected $want, got $got"
        # Copy then rename, so an interrupted run never leaves a truncated
        # tarball under the final name.
        cp "$dl/$f" "$tp/.$f.part"
        mv -f "$tp/.$f.part" "$tp/$f"
        log "fetched $f (from $(basename "$dsc"))"
    done

    rm -rf "$dl"
    trap - EXIT
}

mkdir -p "$tp"
# Two concurrent runs would fight over apt's private lists; serialize them.
exec 9>"$tp/.setup.lock"
flock 9

mapfile -t todo < <(wanted)
for f in "${pinned[@]}"; do
    [[ " ${todo[*]} " == *" $f "* ]] || log "already present $f"
done
((${#todo[@]} == 0)) || fetch "${todo[@]}"

# --- 3. final check against the pins -----------------------------------------

if ! (cd "$tp" && sha256sum --quiet -c "$pins" >/dev/null 2>&1); then
    for f in "${pinned[@]}"; do
        want=$(pinned_sha "$f")
        got=$( [[ -f $tp/$f ]] && sha256sum "$tp/$f" | cut -d' ' -f1 || echo missing)
        if [[ $got != "$want" ]]; then
            printf '%s: error: %s: expected sha256 %s, actual %s\n' \
                "${0##*/}" "third_party/$f" "$want" "$got" >&2
            # Never leave an unpinned input where a build could pick it up.
            rm -f "$tp/$f"
        fi
    done
    die "third_party/ does not match ${pins#"$root"/} (mismatching files removed)"
fi
log "verified ${#pinned[@]} tarballs in third_party/ against ${pins#"$root"/}"

# --- 4. the pinned Debian packages of the examples -----------------------------

"$here/fetch-debs.sh" "$root/examples/debian/BUILD.dhi" "$tp/debian"
