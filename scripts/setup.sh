#!/usr/bin/env bash
# Prepares a machine for building and testing dhib: the Debian tools the
# build and the tests drive (OCI tooling, sandboxes, a static busybox for
# minimal images, archivers, readelf).
#
# Nothing here downloads a build input. Every source and deb the catalog
# builds from is pinned by its exact path and sha256 in a .dhi file, and dhib
# fetches those itself (`dhib fetch //examples/...`, which run.sh calls, or
# any `dhib build`): no step asks which version is current, so no upstream
# release can break a checkout.
#
# Idempotent: when everything is installed it only asks dpkg.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

ensure_debs umoci skopeo docker-registry runc bubblewrap oci-image-tool \
    busybox-static ninja-build git xz-utils zstd bzip2 unzip ca-certificates apt-utils binutils \
    openssl python3
