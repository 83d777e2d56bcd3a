//! The `ar` container of a `.deb`: the magic `!<arch>\n`, then members, each
//! a 60-byte text header followed by its data padded to an even length.
//! dpkg writes only short member names, so the GNU and BSD name tables that
//! general `ar` readers need never occur.

use std::io::{self, Read};

const MAGIC: &[u8; 8] = b"!<arch>\n";

/// Reads members one after the other; between `next_member` calls the reader
/// itself yields the current member's bytes, so members stream straight
/// into a decompressor without being buffered.
pub(super) struct ArReader<R> {
    inner: R,
    /// Bytes of the current member not read yet.
    remaining: u64,
    /// The padding byte after the current member, if its size is odd.
    padding: u64,
}

fn invalid(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

impl<R: Read> ArReader<R> {
    pub(super) fn new(mut inner: R) -> io::Result<Self> {
        let mut magic = [0u8; 8];
        inner.read_exact(&mut magic).map_err(|_| invalid("no ar header (`!<arch>`)".into()))?;
        if &magic != MAGIC {
            return Err(invalid("no ar header (`!<arch>`)".into()));
        }
        Ok(ArReader { inner, remaining: 0, padding: 0 })
    }

    /// Moves to the next member and returns its name and size, or `None` at
    /// the end of the archive.
    pub(super) fn next_member(&mut self) -> io::Result<Option<(String, u64)>> {
        let skip = self.remaining + self.padding;
        let skipped = io::copy(&mut (&mut self.inner).take(skip), &mut io::sink())?;
        if skipped != skip {
            return Err(invalid("a member runs past the end of the archive".into()));
        }
        self.remaining = 0;
        self.padding = 0;

        let mut header = [0u8; 60];
        let mut filled = 0;
        while filled < header.len() {
            match self.inner.read(&mut header[filled..])? {
                0 if filled == 0 => return Ok(None),
                0 => return Err(invalid("the archive ends inside a member header".into())),
                n => filled += n,
            }
        }
        if &header[58..60] != b"`\n" {
            return Err(invalid("a member header is malformed".into()));
        }
        // Names are space-padded; some ar implementations end them with `/`.
        let name = String::from_utf8_lossy(&header[..16]).trim_end().trim_end_matches('/').to_string();
        let size = std::str::from_utf8(&header[48..58])
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| invalid(format!("member `{name}` has no valid size")))?;
        self.remaining = size;
        self.padding = size % 2;
        Ok(Some((name, size)))
    }
}

impl<R: Read> Read for ArReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(invalid("a member runs past the end of the archive".into()));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}
