//! Decoding primitives the generated code calls. Every read is bounds-checked and returns
//! a [`DecodeError`] instead of panicking; nothing is allocated before the bytes that
//! justify it are known to be present.
//!
//! Two budgets make a hostile frame harmless whatever the schema:
//!
//! - heap: everything a decode allocates (list and array storage, strings, bytes) is
//!   charged, before it is allocated, against [`heap_budget`] of the bytes the decode
//!   started from ([`Reader::new`]); going over is [`DecodeError::MemoryLimit`];
//! - stack: before decoding a nested struct, the stack already used since the decode's
//!   first nested struct is measured (from the address of a local), and the struct's
//!   [`frame_cost`] added; above [`STACK_BUDGET`] the decode stops with
//!   [`DecodeError::StackLimit`] (besides the [`MAX_DEPTH`] limit). The measure is of the
//!   real frames, debug or release, so decoding fits in any thread with 2 MiB of stack
//!   whatever the schema.

use std::cell::Cell;

use crate::error::{DecodeError, LengthBound};
use crate::fixed::Fixed;
use crate::wire_type::WireType;
use crate::WireStruct;

/// How deep structs may nest inside one message before decoding gives up, so that a
/// hostile frame cannot exhaust the stack through a recursive struct.
pub const MAX_DEPTH: u32 = 64;

/// Stack that the nested structs of one decode may take: a quarter of the 2 MiB that Rust
/// and tokio give a thread by default, leaving the rest to the caller.
pub const STACK_BUDGET: usize = 512 * 1024;

/// Stack one more level of nesting of struct `S` may take, which must still fit in
/// [`STACK_BUDGET`] before the decoder enters it: a fixed part for the calls involved
/// (decoder, list, closure), plus a multiple of the struct's size for the field slots, the
/// value being built and the copies a return makes. Measured against real frames in debug
/// builds, whose frames are the larger (`contracts/tests/hostile.rs`, `calibrate`): a
/// level of a 40-byte recursive struct takes about 5 KiB, one of a 4 KiB struct about
/// 60 KiB; this estimate gives 16.6 KiB and 81 KiB.
pub const fn frame_cost<S>() -> usize {
    FRAME_BASE + FRAME_FACTOR * std::mem::size_of::<S>()
}

const FRAME_BASE: usize = 16 * 1024;
const FRAME_FACTOR: usize = 16;

/// An address in the caller's stack frame, to measure how much stack a decode has used.
#[inline(never)]
fn stack_address() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Most heap a decode of `len` bytes may allocate: 16 times the bytes plus 1 MiB, so a
/// 1 MiB frame can never ask for more than 17 MiB, however its counts are forged.
pub const fn heap_budget(len: usize) -> usize {
    len.saturating_mul(16).saturating_add(1 << 20)
}

/// The key stored at `off` in a block returned by [`Reader::peek`]. Generated decoders use
/// it to check, in one block, that the leading fixed-width fields arrived at the offsets
/// an encoder writing in tag order gives them.
#[inline(always)]
pub fn key_at<const N: usize>(block: &[u8; N], off: usize) -> Option<u16> {
    match block.get(off..off + 2) {
        Some(&[a, b]) => Some(u16::from_le_bytes([a, b])),
        _ => None,
    }
}

/// The fixed-width value stored at `off` in a block returned by [`Reader::peek`],
/// validated like [`Reader::fixed`].
#[inline(always)]
pub fn fixed_at<T: Fixed, const N: usize>(block: &[u8; N], off: usize) -> Result<T, DecodeError> {
    match block.get(off..) {
        Some(rest) => T::take(&mut Reader::new(rest)),
        None => Err(DecodeError::Truncated {
            offset: off,
            needed: T::WIDTH,
            available: 0,
        }),
    }
}

/// Heap left to one decode: owned by the outermost reader, shared by the readers of its
/// nested values.
#[derive(Debug, Clone)]
enum Budget<'a> {
    Own(Cell<usize>),
    Shared(&'a Cell<usize>),
}

impl Budget<'_> {
    #[inline(always)]
    fn cell(&self) -> &Cell<usize> {
        match self {
            Budget::Own(c) => c,
            Budget::Shared(c) => c,
        }
    }
}

/// A cursor over the bytes of one field sequence or value.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
    total: usize,
    depth: u32,
    /// [`stack_address`] when the decode entered its first nested struct; 0 before.
    stack_base: usize,
    budget: Budget<'a>,
}

impl<'a> Reader<'a> {
    /// A reader over a message body (nesting depth 0), with a heap budget of
    /// [`heap_budget`]`(bytes.len())` for everything decoded from it.
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader {
            rest: bytes,
            total: bytes.len(),
            depth: 0,
            stack_base: 0,
            budget: Budget::Own(Cell::new(heap_budget(bytes.len()))),
        }
    }

    #[inline]
    fn child<'s>(&'s self, bytes: &'s [u8], depth: u32, stack_base: usize) -> Reader<'s> {
        Reader {
            rest: bytes,
            total: bytes.len(),
            depth,
            stack_base,
            budget: Budget::Shared(self.budget.cell()),
        }
    }

    /// Charges `bytes` of heap against the decode's budget, before allocating them.
    #[inline]
    fn charge(&self, bytes: usize) -> Result<(), DecodeError> {
        let cell = self.budget.cell();
        match cell.get().checked_sub(bytes) {
            Some(left) => {
                cell.set(left);
                Ok(())
            }
            None => Err(DecodeError::MemoryLimit {
                needed: bytes,
                left: cell.get(),
            }),
        }
    }

    /// Heap this decode may still allocate.
    #[inline]
    pub fn heap_left(&self) -> usize {
        self.budget.cell().get()
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Struct nesting depth of this reader.
    #[inline]
    pub fn depth(&self) -> u32 {
        self.depth
    }

    #[inline(always)]
    fn truncated(&self, needed: usize) -> DecodeError {
        DecodeError::Truncated {
            offset: self.total - self.rest.len(),
            needed,
            available: self.rest.len(),
        }
    }

    /// Reads `N` bytes.
    #[inline(always)]
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        match self.rest.split_first_chunk::<N>() {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(*head)
            }
            None => Err(self.truncated(N)),
        }
    }

    /// The next `N` bytes, without consuming them; `None` if fewer remain.
    #[inline(always)]
    pub fn peek<const N: usize>(&self) -> Option<&'a [u8; N]> {
        self.rest.first_chunk::<N>()
    }

    /// Reads one fixed-width value.
    #[inline(always)]
    pub fn fixed<T: Fixed>(&mut self) -> Result<T, DecodeError> {
        T::take(self)
    }

    /// Reads `n` bytes.
    #[inline(always)]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(self.truncated(n));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Reads the next field key; `None` at the end of the sequence.
    #[inline(always)]
    pub fn key(&mut self) -> Result<Option<(u16, WireType)>, DecodeError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let offset = self.total - self.rest.len();
        let key = u16::from_le_bytes(self.take_array::<2>()?);
        let tag = key >> 3;
        if tag == 0 {
            return Err(DecodeError::InvalidTag { offset });
        }
        match WireType::from_bits((key & 7) as u8) {
            Some(w) => Ok(Some((tag, w))),
            None => Err(DecodeError::InvalidWireType {
                tag,
                wire_type: (key & 7) as u8,
            }),
        }
    }

    /// Skips the value of an unknown field.
    #[inline]
    pub fn skip(&mut self, wire: WireType) -> Result<(), DecodeError> {
        let n = match wire {
            WireType::I8 => 1,
            WireType::I16 => 2,
            WireType::I32 => 4,
            WireType::I64 => 8,
            WireType::Len => self.read_len()?,
        };
        self.take(n).map(|_| ())
    }

    /// Reads a `u32` length.
    #[inline(always)]
    pub fn read_len(&mut self) -> Result<usize, DecodeError> {
        Ok(u32::from_le_bytes(self.take_array::<4>()?) as usize)
    }

    /// Reads a length-delimited value's bytes.
    #[inline(always)]
    pub fn len_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.read_len()?;
        self.take(n)
    }

    /// Reads a `string` value.
    #[inline]
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let b = self.len_bytes()?;
        self.charge(b.len())?;
        Ok(std::str::from_utf8(b)?.to_owned())
    }

    /// Reads a `bytes` value.
    #[inline]
    pub fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let b = self.len_bytes()?;
        self.charge(b.len())?;
        Ok(b.to_vec())
    }

    /// Reads a struct value, if [`MAX_DEPTH`] and [`STACK_BUDGET`] allow one more level.
    #[inline]
    pub fn nested<S: WireStruct>(&mut self) -> Result<S, DecodeError> {
        let body = self.len_bytes()?;
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep { max: MAX_DEPTH });
        }
        let here = stack_address();
        let base = if self.stack_base == 0 {
            here
        } else {
            self.stack_base
        };
        let needed = base.abs_diff(here).saturating_add(frame_cost::<S>());
        if needed > STACK_BUDGET {
            return Err(DecodeError::StackLimit {
                needed,
                limit: STACK_BUDGET,
            });
        }
        S::decode_fields(self.child(body, depth, base))
    }

    /// Opens a list or array: returns a reader over its elements and the element count,
    /// checked against `max` and against the bytes present (each element takes at least
    /// `min_width` bytes), and charges `count` elements of `T` against the heap budget,
    /// before the caller allocates anything.
    #[inline]
    fn open_seq<T>(
        &mut self,
        max: Option<u32>,
        exact: Option<usize>,
        min_width: usize,
    ) -> Result<(Reader<'_>, usize), DecodeError> {
        let body = self.len_bytes()?;
        let mut r = self.child(body, self.depth, self.stack_base);
        let count = r.read_len()?;
        if let Some(n) = exact {
            if count != n {
                return Err(DecodeError::LengthMismatch {
                    expected: LengthBound::Exactly(n as u32),
                    found: count as u32,
                });
            }
        }
        if let Some(m) = max {
            if count > m as usize {
                return Err(DecodeError::LengthMismatch {
                    expected: LengthBound::AtMost(m),
                    found: count as u32,
                });
            }
        }
        let needed = count.saturating_mul(min_width);
        if needed > r.remaining() {
            return Err(r.truncated(needed));
        }
        r.charge(count.saturating_mul(std::mem::size_of::<T>()))?;
        Ok((r, count))
    }

    #[inline]
    fn close_seq(r: &Reader<'_>) -> Result<(), DecodeError> {
        match r.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }

    /// Reads a list of fixed-width elements.
    #[inline]
    pub fn packed_list<T: Fixed>(&mut self, max: Option<u32>) -> Result<Vec<T>, DecodeError> {
        let (mut r, count) = self.open_seq::<T>(max, None, T::WIDTH)?;
        let mut v = Vec::with_capacity(count);
        for _ in 0..count {
            v.push(T::take(&mut r)?);
        }
        Self::close_seq(&r)?;
        Ok(v)
    }

    /// Reads a list of `u8` in one copy.
    #[inline]
    pub fn packed_u8_list(&mut self, max: Option<u32>) -> Result<Vec<u8>, DecodeError> {
        let (mut r, count) = self.open_seq::<u8>(max, None, 1)?;
        let v = r.take(count)?.to_vec();
        Self::close_seq(&r)?;
        Ok(v)
    }

    /// Reads an array of `N` fixed-width elements without allocating.
    #[inline]
    pub fn packed_array<T: Fixed, const N: usize>(&mut self) -> Result<[T; N], DecodeError> {
        // Nothing is allocated: charge nothing.
        let (mut r, _) = self.open_seq::<()>(None, Some(N), T::WIDTH)?;
        let mut a = [T::PLACEHOLDER; N];
        for slot in a.iter_mut() {
            *slot = T::take(&mut r)?;
        }
        Self::close_seq(&r)?;
        Ok(a)
    }

    /// Reads an array of `N` fixed-width elements straight onto the heap: generated types
    /// hold large arrays boxed, so that neither a decoder's stack frame nor a struct in a
    /// list carries them inline.
    #[inline]
    pub fn packed_boxed_array<T: Fixed, const N: usize>(
        &mut self,
    ) -> Result<Box<[T; N]>, DecodeError> {
        let (mut r, _) = self.open_seq::<T>(None, Some(N), T::WIDTH)?;
        let mut v = Vec::with_capacity(N);
        for _ in 0..N {
            v.push(T::take(&mut r)?);
        }
        Self::close_seq(&r)?;
        boxed_array(v)
    }

    /// Reads a list of length-delimited elements, each read by `each`.
    #[inline]
    pub fn list<T>(
        &mut self,
        max: Option<u32>,
        mut each: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let (mut r, count) = self.open_seq::<T>(max, None, 4)?;
        let mut v = Vec::with_capacity(count);
        for _ in 0..count {
            v.push(each(&mut r)?);
        }
        Self::close_seq(&r)?;
        Ok(v)
    }

    /// Reads an array of `N` length-delimited elements, each read by `each`.
    #[inline]
    pub fn array<T, const N: usize>(
        &mut self,
        each: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<[T; N], DecodeError> {
        let v = self.array_vec::<T, N>(each)?;
        let found = v.len() as u32;
        v.try_into().map_err(|_| DecodeError::LengthMismatch {
            expected: LengthBound::Exactly(N as u32),
            found,
        })
    }

    /// [`Reader::array`] straight onto the heap, for large arrays (see
    /// [`Reader::packed_boxed_array`]).
    #[inline]
    pub fn boxed_array<T, const N: usize>(
        &mut self,
        each: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<Box<[T; N]>, DecodeError> {
        boxed_array(self.array_vec::<T, N>(each)?)
    }

    fn array_vec<T, const N: usize>(
        &mut self,
        mut each: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let (mut r, _) = self.open_seq::<T>(None, Some(N), 4)?;
        let mut v = Vec::with_capacity(N);
        for _ in 0..N {
            v.push(each(&mut r)?);
        }
        Self::close_seq(&r)?;
        Ok(v)
    }

    /// Checks that a known field came with the wire type its schema type needs.
    #[inline(always)]
    pub fn expect(
        wire: WireType,
        expected: WireType,
        field: &'static str,
        tag: u16,
    ) -> Result<(), DecodeError> {
        if wire == expected {
            Ok(())
        } else {
            Err(DecodeError::WrongWireType {
                field,
                tag,
                expected,
                found: wire,
            })
        }
    }
}

fn boxed_array<T, const N: usize>(v: Vec<T>) -> Result<Box<[T; N]>, DecodeError> {
    let found = v.len() as u32;
    v.into_boxed_slice()
        .try_into()
        .map_err(|_| DecodeError::LengthMismatch {
            expected: LengthBound::Exactly(N as u32),
            found,
        })
}
