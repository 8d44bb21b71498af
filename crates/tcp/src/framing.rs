//! Cutting a connection's byte stream into DATA chunks: each chunk ends
//! with the server's delimiter and carries it (RoadRunner sends the
//! delimiter to the worker as part of the body). Check -> cut -> advance:
//! an incomplete chunk is `Ok(None)`, not an error; a chunk that cannot
//! fit in the cap is [`Oversize`].
//!
//! RoadRunner sends whatever one `read` returned when it happens to end
//! with the delimiter, so its chunks depend on how TCP segmented the
//! stream (two lines in one segment are one DATA event; a delimiter split
//! across two reads closes the connection). Here every delimiter ends one
//! chunk, whatever the segmentation: a worker written for RoadRunner sees
//! the same bytes, one line per event.

use bytes::buf::Limit;
use bytes::{BufMut, Bytes, BytesMut};

/// The pending bytes reached the cap without a delimiter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{pending} bytes without the delimiter (the limit is {cap} bytes)")]
pub struct Oversize {
    /// Bytes buffered when the cap was hit.
    pub pending: usize,
    /// The cap (`tcp.read_buf_size`).
    pub cap: usize,
}

/// The bytes read from one connection and not yet sent as a chunk.
#[derive(Debug)]
pub struct Framer {
    delimiter: Bytes,
    cap: usize,
    buf: BytesMut,
    /// How far `buf` is known to hold no complete delimiter (so a long
    /// pending line is scanned once, not once per read).
    searched: usize,
}

impl Framer {
    /// A framer cutting at `delimiter` (not empty), holding at most `cap`
    /// bytes of an unfinished chunk; a chunk is at most `cap` bytes,
    /// delimiter included.
    pub fn new(delimiter: Bytes, cap: usize) -> Self {
        Self {
            delimiter,
            cap: cap.max(1),
            buf: BytesMut::new(),
            searched: 0,
        }
    }

    /// How many bytes the next read may add without passing the cap.
    pub fn room(&self) -> usize {
        self.cap.saturating_sub(self.buf.len())
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Room for the next read, straight into the pending bytes: at most
    /// `most` bytes and never past the cap. Allocated here, only when
    /// there is something to read, so an idle connection holds no buffer.
    pub fn read_buf(&mut self, most: usize) -> Limit<&mut BytesMut> {
        let want = self.room().min(most).max(1);
        self.buf.reserve(want);
        (&mut self.buf).limit(want)
    }

    /// The bytes allocated for pending data (0 when nothing is pending
    /// and no read is under way).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The next complete chunk (delimiter included), `Ok(None)` when the
    /// pending bytes hold no delimiter yet, or [`Oversize`] when they
    /// reached the cap without one (or the chunk found is longer than it).
    pub fn next_chunk(&mut self) -> Result<Option<Bytes>, Oversize> {
        let delimiter = self.delimiter.len();
        let from = self.searched.saturating_sub(delimiter.saturating_sub(1));
        match memchr::memmem::find(&self.buf[from..], &self.delimiter) {
            Some(at) => {
                let end = from + at + delimiter;
                if end > self.cap {
                    return Err(self.oversize());
                }
                self.searched = 0;
                let chunk = self.buf.split_to(end).freeze();
                self.release_if_empty();
                Ok(Some(chunk))
            }
            None if self.buf.len() >= self.cap => Err(self.oversize()),
            None => {
                self.searched = self.buf.len();
                Ok(None)
            }
        }
    }

    /// What is left when the client hung up (bytes after the last
    /// delimiter), if anything.
    pub fn take_rest(&mut self) -> Option<Bytes> {
        self.searched = 0;
        let rest = (!self.buf.is_empty()).then(|| self.buf.split().freeze());
        self.release_if_empty();
        rest
    }

    /// Lets go of the allocation when nothing is pending (the chunks cut
    /// from it keep it alive until the worker has them).
    fn release_if_empty(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
    }

    fn oversize(&self) -> Oversize {
        Oversize {
            pending: self.buf.len(),
            cap: self.cap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framer(cap: usize) -> Framer {
        Framer::new(Bytes::from_static(b"\r\n"), cap)
    }

    fn chunks(f: &mut Framer) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(c) = f.next_chunk().unwrap() {
            out.push(c);
        }
        out
    }

    #[test]
    fn a_line_split_across_reads_is_one_chunk() {
        let mut f = framer(1024);
        f.push(b"hel");
        assert_eq!(f.next_chunk(), Ok(None));
        f.push(b"lo\r");
        assert_eq!(f.next_chunk(), Ok(None));
        // The delimiter itself split across two reads.
        f.push(b"\nwor");
        assert_eq!(chunks(&mut f), vec![Bytes::from_static(b"hello\r\n")]);
        f.push(b"ld\r\n");
        assert_eq!(chunks(&mut f), vec![Bytes::from_static(b"world\r\n")]);
        assert_eq!(f.take_rest(), None);
    }

    #[test]
    fn several_lines_in_one_read_are_several_chunks() {
        let mut f = framer(1024);
        f.push(b"a\r\nbb\r\n\r\nccc");
        assert_eq!(
            chunks(&mut f),
            vec![
                Bytes::from_static(b"a\r\n"),
                Bytes::from_static(b"bb\r\n"),
                Bytes::from_static(b"\r\n"),
            ]
        );
        assert_eq!(f.take_rest(), Some(Bytes::from_static(b"ccc")));
        assert_eq!(f.take_rest(), None);
    }

    #[test]
    fn a_one_byte_delimiter() {
        let mut f = Framer::new(Bytes::from_static(b"\n"), 1024);
        f.push(b"x\ny");
        assert_eq!(chunks(&mut f), vec![Bytes::from_static(b"x\n")]);
        f.push(b"\n");
        assert_eq!(chunks(&mut f), vec![Bytes::from_static(b"y\n")]);
    }

    #[test]
    fn a_long_delimiter_split_many_ways() {
        let mut f = Framer::new(Bytes::from_static(b"<END>"), 1024);
        for piece in [&b"abc<"[..], b"E", b"N", b"D", b">def<EN", b"D><E"] {
            f.push(piece);
        }
        assert_eq!(
            chunks(&mut f),
            vec![
                Bytes::from_static(b"abc<END>"),
                Bytes::from_static(b"def<END>")
            ]
        );
        assert_eq!(f.take_rest(), Some(Bytes::from_static(b"<E")));
    }

    #[test]
    fn reads_go_straight_into_the_pending_bytes_and_an_idle_framer_holds_nothing() {
        let mut f = framer(1024);
        assert_eq!(f.capacity(), 0);
        f.read_buf(4).put_slice(b"ab\r\n");
        assert_eq!(chunks(&mut f), vec![Bytes::from_static(b"ab\r\n")]);
        assert_eq!(f.capacity(), 0);
        let mut limited = f.read_buf(64 * 1024);
        assert_eq!(limited.remaining_mut(), 1024);
        limited.put_slice(b"half");
        assert_eq!(f.next_chunk(), Ok(None));
        assert_eq!(f.room(), 1020);
        assert_eq!(f.take_rest(), Some(Bytes::from_static(b"half")));
        assert_eq!(f.capacity(), 0);
    }

    #[test]
    fn pending_bytes_are_capped() {
        let mut f = framer(8);
        f.push(b"1234567");
        assert_eq!(f.next_chunk(), Ok(None));
        assert_eq!(f.room(), 1);
        f.push(b"8");
        assert_eq!(f.room(), 0);
        assert_eq!(f.next_chunk(), Err(Oversize { pending: 8, cap: 8 }));
    }

    #[test]
    fn a_chunk_of_exactly_the_cap_passes_and_one_more_byte_does_not() {
        let mut f = framer(8);
        f.push(b"123456\r\n");
        assert_eq!(chunks(&mut f), vec![Bytes::from_static(b"123456\r\n")]);
        // 7 bytes + a delimiter whose last byte is past the cap.
        let mut f = framer(8);
        f.push(b"1234567\r");
        assert!(f.next_chunk().is_err());
    }

    #[test]
    fn a_too_long_chunk_found_in_one_read_is_refused() {
        // The reader never pushes more than `room()`, but a framer given
        // more must still refuse the long chunk.
        let mut f = framer(4);
        f.push(b"123456\r\n");
        assert!(f.next_chunk().is_err());
    }
}
