#!/bin/sh
# Generates the icons shipped with the program.
set -e
mkdir -p build
cp data/logo.svg build/
