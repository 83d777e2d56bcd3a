#!/bin/sh
set -e
if command -v pkg-config >/dev/null; then
    eval "$(./build-aux/host-vars.sh)"
    cflags=$(pkg-config --cflags zlib)
fi
