#!/usr/bin/env bash
# Usage: scripts/upstream-demo.sh [DIR]   (default: target/upstream-demo)
#
# An upstream release reaching the example catalog, end to end and offline:
# a copy of the catalog watches a local Lua upstream (scripts/local-upstream.sh)
# that has published two releases. dhib lists them, the guardrail blocks the
# malicious-looking one, the benign one is taken, and the build remakes,
# tests, attests and signs exactly the images and customizations it touches.
#
# Shares the store of the workspace (.dhib/, or $DHIB_STORE), so after
# ./run.sh only the cascade is built.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
demo=${1:-$root/target/upstream-demo}
export DHIB_STORE=${DHIB_STORE:-$root/.dhib}
(cd "$root" && cargo build --release --locked --quiet)
dhib=$root/target/release/dhib

rm -rf "$demo"
"$root/scripts/local-upstream.sh" "$demo"
cd "$demo"
if [[ -f $root/cosign.key ]]; then
    cp "$root/cosign.key" "$root/cosign.pub" .
else
    "$dhib" keygen
fi

step() { printf '\n== %s\n' "$*"; }
step "dhib build //examples/...: the catalog as it is (cached after ./run.sh)"
"$dhib" build //examples/...
step "dhib upstream check: what the monitors see"
"$dhib" upstream check //examples/pkgs/lua/...
step "dhib upstream update: the newest release, vetted by the guardrail (this one is blocked)"
if "$dhib" upstream update //examples/pkgs/lua:lua-src; then
    die "the guardrail let the malicious-looking release through"
fi
git diff --quiet || die "a blocked update rewrote files"
step "dhib upstream update --to 5.4.4.1: the benign release"
start=$(date +%s.%N)
"$dhib" upstream update //examples/pkgs/lua:lua-src --to 5.4.4.1
git status --short   # the two .dhi files, and the guardrail's record beside the source
step "dhib affected --since HEAD: what CI would build"
"$dhib" affected --since HEAD
mapfile -t images < <("$dhib" affected --since HEAD --output json | python3 -c '
import json, sys
for n in json.load(sys.stdin):
    if n["kind"] in ("image", "customization"): print(n["node"])')
step "dhib build //examples/...: the cascade, rebuilt, tested, attested and signed"
"$dhib" build //examples/...
for image in "${images[@]}"; do
    step "dhib verify $image"
    "$dhib" verify "$image"
done
end=$(date +%s.%N)
step "dhib run //examples/images/lua:lua -- -v"
"$dhib" run //examples/images/lua:lua -- -v
python3 - "$start" "$end" "${#images[@]}" <<'PY'
import sys
start, end, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
s = end - start
print(f"\nfrom `upstream update` to {n} images and customizations rebuilt, tested, attested, signed and verified: {s:.1f} s = {n / s:.2f} images/s")
print("(what the store already held was not remade; `cargo bench --bench upstream_examples` always remakes the whole cascade)")
PY
