#!/usr/bin/env bash
# Sets up this machine (system tools, real upstream sources in third_party/),
# builds dhib, and runs it on the bundled example catalog.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$root"
./scripts/setup.sh
cargo build --release --locked
dhib=./target/release/dhib
echo "== dhib check: every .dhi file of the workspace"
$dhib check
echo "== what must be rebuilt if zlib changes?"
$dhib query 'rdeps(//..., //examples/pkgs/zlib)'
echo "== the images among them"
$dhib query 'kind(image, rdeps(//..., //examples/pkgs/zlib))'
echo "== keys of the Lua image and its SBOM attestation"
$dhib key //examples/images/lua:lua '//examples/images/lua:lua#sbom'
