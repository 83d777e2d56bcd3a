//! Safe extraction of source archives.
