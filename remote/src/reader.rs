//! A buffered frame reader whose memory is bounded by the largest frame it accepts.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::WireError;
use crate::frame::{needed_len, parse_frame, Frame};
use mycelium_codec::HEADER_LEN;

const INITIAL: usize = 16 * 1024;

/// Why reading the next frame failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection (cleanly between frames, or `mid_frame`).
    #[error("peer closed the connection{}", if *.mid_frame { " in the middle of a frame" } else { "" })]
    Eof {
        /// True when part of a frame had arrived.
        mid_frame: bool,
    },
    /// The bytes can never be a valid frame.
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// Reads frames from a byte stream. The buffer grows only to the length a validated header
/// announces, so it never exceeds `32 + max_body` bytes (or 16 KiB, if larger).
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    consumed: usize,
    max_body: u32,
    /// A byte has come.
    received: bool,
}

impl FrameReader {
    /// A reader refusing bodies above `max_body`.
    pub fn new(max_body: u32) -> Self {
        FrameReader {
            buf: vec![0; INITIAL],
            start: 0,
            end: 0,
            consumed: 0,
            max_body,
            received: false,
        }
    }

    /// Changes the maximum body length (after a handshake, from its small limit to the
    /// link's).
    pub fn set_max_body(&mut self, max_body: u32) {
        self.max_body = max_body;
    }

    /// The next whole frame already buffered, if any.
    pub fn next_buffered(&mut self) -> Result<Option<Frame<'_>>, WireError> {
        self.start += std::mem::take(&mut self.consumed);
        match parse_frame(&self.buf[self.start..self.end], self.max_body)? {
            Some((frame, len)) => {
                self.consumed = len;
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }

    /// Makes the frame [`next_buffered`](Self::next_buffered) returned last the next one it
    /// returns again: its reader left it for another.
    pub fn put_back(&mut self) {
        self.consumed = 0;
    }

    /// Bytes of buffer held now (bounded by the largest frame accepted, or 16 KiB).
    pub fn buffered_capacity(&self) -> usize {
        self.buf.len()
    }

    /// True when bytes of an unfinished frame are buffered.
    pub fn has_partial(&self) -> bool {
        self.end > self.start + self.consumed
    }

    /// Makes room for the rest of the current frame and returns the free space to read into.
    fn space(&mut self) -> Result<&mut [u8], WireError> {
        self.start += std::mem::take(&mut self.consumed);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let needed = needed_len(&self.buf[self.start..self.end], self.max_body)?.max(HEADER_LEN);
        if self.buf.len() - self.start < needed || self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < needed {
            self.buf.resize(needed, 0);
        }
        Ok(&mut self.buf[self.end..])
    }

    /// Reads once from `source` into the buffer.
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, source: &mut R) -> Result<(), ReadError> {
        let space = self.space()?;
        let n = source.read(space).await?;
        self.filled(n)
    }

    /// Reads once with a non-blocking read function (`try_read`); `Ok(false)` when it would
    /// block.
    pub fn try_fill(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> Result<bool, ReadError> {
        let space = self.space()?;
        match read(space) {
            Ok(n) => self.filled(n).map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    fn filled(&mut self, n: usize) -> Result<(), ReadError> {
        if n == 0 {
            return Err(ReadError::Eof {
                mid_frame: self.end > self.start,
            });
        }
        self.end += n;
        self.received = true;
        Ok(())
    }

    /// True once any byte has come (a peer that closes before is silent).
    pub fn received_any(&self) -> bool {
        self.received
    }

    /// Reads until a whole frame is buffered and returns it.
    pub async fn read_frame<R: AsyncRead + Unpin>(
        &mut self,
        source: &mut R,
    ) -> Result<Frame<'_>, ReadError> {
        loop {
            self.start += std::mem::take(&mut self.consumed);
            if parse_frame(&self.buf[self.start..self.end], self.max_body)?.is_some() {
                break;
            }
            self.fill(source).await?;
        }
        // Parsed again to hand out a borrow of the buffer; the check above found it whole.
        self.next_buffered()?
            .ok_or(ReadError::Eof { mid_frame: true })
    }
}
