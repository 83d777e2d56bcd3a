#!/bin/sh
# Generates the icons shipped with the program.
set -e
mkdir -p build
cp data/logo.svg build/
base64 -d < data/logo.png.b64 > build/logo.png
