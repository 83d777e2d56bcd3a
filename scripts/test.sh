#!/usr/bin/env bash
# The one test command: installs what the tests need (idempotent), then runs
# every test. `.ci/run` calls exactly this.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/scripts/test-deps.sh"
cargo test --locked --all-targets
