//! Small per-request byte strings (the request context sent to a worker,
//! an unescaped response head) cut from one per-thread buffer instead of
//! a `Vec` each, turned into a `Bytes` (a second allocation) afterwards.
//!
//! The buffer is a `BytesMut`: each piece is `split` off and frozen, so
//! it shares the buffer's allocation and keeps it alive until the piece
//! is dropped. When the buffer runs out, `reserve` takes the whole
//! allocation back if no piece is alive any more, and otherwise starts a
//! new chunk of [`CHUNK`] bytes (the old one is freed with its last
//! piece). So a piece costs no allocation, and a chunk two (its buffer,
//! and its shared header once the first piece is split off): two per
//! [`CHUNK`] bytes of pieces in flight, not two per request (measured:
//! 0.014 per hello request). The event loops are threads, so the buffer
//! is per shard and never contended.
//!
//! The price: a chunk lives as long as its longest-lived piece, so a
//! request that stays in flight (a slow script, a caller queued for a
//! worker) can keep a whole chunk alive among pieces long gone. That is
//! at most [`CHUNK`] per request in flight, the order of what hyper
//! already holds per connection (an 8 KiB read buffer and the write
//! buffer), and requests in flight are bounded by the workers and the
//! queue.

use std::cell::Cell;

use bytes::{Bytes, BytesMut};

/// Bytes a chunk holds (32 requests' contexts of 500 bytes).
pub(crate) const CHUNK: usize = 16 * 1024;

thread_local! {
    /// Taken out while a piece is written (an empty `BytesMut` costs
    /// nothing), so a nested cut simply works on a buffer of its own.
    static ARENA: Cell<BytesMut> = Cell::new(BytesMut::new());
}

/// Runs `write` on a buffer with at least `guess` bytes free and returns
/// what it appended as one `Bytes`. Pieces larger than a chunk get a
/// buffer of their own (and are never kept around by the arena).
pub(crate) fn cut<R>(guess: usize, write: impl FnOnce(&mut BytesMut) -> R) -> (Bytes, R) {
    if guess > CHUNK {
        let mut own = BytesMut::with_capacity(guess);
        let out = write(&mut own);
        return (own.freeze(), out);
    }
    // A thread that is ending has no arena any more: a fresh buffer.
    let mut arena = ARENA.try_with(Cell::take).unwrap_or_default();
    if arena.capacity() - arena.len() < guess {
        // Reclaims the chunk when no piece of it is alive, otherwise
        // starts a new one.
        arena.reserve(CHUNK);
    }
    let out = write(&mut arena);
    let piece = arena.split().freeze();
    if piece.len() > CHUNK {
        // The guess was far off and the buffer grew: the grown allocation
        // goes with this piece instead of staying in the arena.
        arena = BytesMut::new();
    }
    let _ = ARENA.try_with(|cell| cell.set(arena));
    (piece, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn pieces_are_what_was_written_and_outlive_the_chunk() {
        let mut kept = Vec::new();
        for i in 0..2000u32 {
            let (piece, n) = cut(64, |b| {
                b.put_slice(format!("piece {i};").as_bytes());
                i
            });
            assert_eq!(n, i);
            kept.push((i, piece));
        }
        // Many chunks' worth, all still intact.
        for (i, piece) in &kept {
            assert_eq!(&piece[..], format!("piece {i};").as_bytes());
        }
        let (big, ()) = cut(10, |b| b.put_slice(&vec![7u8; 3 * CHUNK]));
        assert_eq!(big.len(), 3 * CHUNK);
        let (after, ()) = cut(10, |b| b.put_slice(b"small"));
        assert_eq!(&after[..], b"small");
        let (alone, ()) = cut(2 * CHUNK, |b| b.put_slice(b"own buffer"));
        assert_eq!(&alone[..], b"own buffer");
    }

    #[test]
    fn a_nested_cut_gets_a_buffer_of_its_own() {
        let (outer, inner) = cut(16, |b| {
            b.put_slice(b"outer");
            cut(16, |b| b.put_slice(b"inner")).0
        });
        assert_eq!(&outer[..], b"outer");
        assert_eq!(&inner[..], b"inner");
    }
}
