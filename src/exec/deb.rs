//! Debian binary packages: .deb files, Packages indexes, versions, dependency closure.
