#!/usr/bin/env bash
# Sets up this machine (system tools), builds dhib, fetches the pinned
# upstream sources and Debian packages of the example catalog into the store,
# and runs dhib on the catalog.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$root"
./scripts/setup.sh
cargo build --release --locked
dhib=./target/release/dhib
echo "== dhib check: every .dhi file of the workspace"
$dhib check
echo "== dhib fetch //examples/...: every pinned source and deb, by exact path, checked against its sha256"
$dhib fetch //examples/...
if [[ ! -f cosign.key ]]; then
    echo "== dhib keygen: the key pair dhib signs images and attestations with (cosign.key, cosign.pub)"
    $dhib keygen
fi
echo "== dhib build //examples/...: zlib, Lua, SQLite and Debian's libmd (patched) from source, in the sandbox; tested, attested, signed"
$dhib build //examples/...
echo "== again: nothing to do"
$dhib build //examples/...
echo "== what must be rebuilt if zlib changes?"
$dhib query 'rdeps(//..., //examples/pkgs/zlib)'
echo "== the images among them"
$dhib query 'kind(image, rdeps(//..., //examples/pkgs/zlib))'
echo "== what a change to the patch of the libmd rebuild reaches (the images that install libmd0)"
$dhib affected --files examples/debian/libmd/patches/explicit-bzero-contexts.patch
echo "== run the Lua image (its entrypoint, in the sandbox, as its user)"
$dhib run //examples/images/lua:lua -- -e 'print("hello from " .. _VERSION .. " in the image")'
echo "== the images' tests and standard checks (CTRF reports in dhib-out/)"
$dhib test //examples/...
echo "== verify the Lua image: signature, attestations, SBOM against its layers, provenance against the graph"
$dhib verify //examples/images/lua:lua
echo "== scan the Lua image against the bundled OSV records: the from-source zlib matches by CPE, its VEX suppresses"
$dhib scan //examples/images/lua:lua --db tests/scan/osv --show-suppressed --fail-on high
echo "== what the Lua image adds to its base"
$dhib compare //examples/images/lua:lua //examples/bases:debian-runtime --db tests/scan/osv --ignore-unchanged
