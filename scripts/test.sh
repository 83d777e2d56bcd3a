#!/usr/bin/env bash
# The one test command: installs what the tests need (idempotent), then runs
# every test. `.ci/run` calls exactly this.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/scripts/test-deps.sh"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# The tree stays in one style (rustfmt.toml); a machine without rustfmt skips it.
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --check >/dev/null || { echo "test.sh: not formatted: run cargo fmt" >&2; status=1; }
fi
cargo test --locked --workspace --all-targets 2>&1 | tee "$log" || status=$?
# One closing line for the whole run (benches, which run last, print none).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
