//! CRC-32 (IEEE 802.3, the checksum of zlib and `crc32fast`) of many short records at once.
//!
//! The writer thread checksums every record of a batch: a body of about a hundred bytes and a
//! head of eight. For inputs that short a checksum is bound by the latency of one chain of
//! carry-less multiplications, not by the bytes: `crc32fast::hash` of a 111-byte body takes
//! about as long as copying the record to the page cache. Here the bodies of four records are
//! folded side by side, so the four chains overlap in the CPU (x86-64 with PCLMULQDQ, SSSE3
//! and SSE4.1, detected at run time; elsewhere each body goes through `crc32fast`), and the
//! eight-byte heads use a slice-by-8 table instead of a call that dispatches on the length.

use std::ops::Range;

/// Appends to `out` the CRC-32 of each span of `data`, in order.
pub(crate) fn each(data: &[u8], spans: &[Range<usize>], out: &mut Vec<u32>) {
    out.reserve(spans.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("pclmulqdq")
        && std::arch::is_x86_feature_detected!("ssse3")
        && std::arch::is_x86_feature_detected!("sse4.1")
    {
        // SAFETY: the CPU features the kernel is compiled for were detected just above.
        unsafe { x86::each(data, spans, out) };
        return;
    }
    out.extend(spans.iter().map(|s| crc32fast::hash(&data[s.clone()])));
}

/// Slice-by-8 tables: `TABLES[k][b]` is the CRC register after byte `b` followed by `k` zero
/// bytes.
static TABLES: [[u32; 256]; 8] = tables();

const fn tables() -> [[u32; 256]; 8] {
    const POLY: u32 = 0xedb8_8320;
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ POLY } else { c >> 1 };
            bit += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

/// The CRC-32 of eight bytes.
pub(crate) fn of8(bytes: [u8; 8]) -> u32 {
    let v = u64::from_le_bytes(bytes) ^ 0xffff_ffff;
    let at = |shift: u32| (v >> shift) as u8 as usize;
    !(TABLES[7][at(0)]
        ^ TABLES[6][at(8)]
        ^ TABLES[5][at(16)]
        ^ TABLES[4][at(24)]
        ^ TABLES[3][at(32)]
        ^ TABLES[2][at(40)]
        ^ TABLES[1][at(48)]
        ^ TABLES[0][at(56)])
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! Folding 16-byte blocks with carry-less multiplication (Gopal et al., "Fast CRC
    //! Computation for Generic Polynomials Using PCLMULQDQ Instruction", Intel, 2009), for
    //! the bit-reflected CRC-32.
    //!
    //! A message is seen as if zero bytes were put before it up to a whole number of blocks:
    //! with the initial register folded into the message's first four bytes, leading zeros
    //! leave the remainder unchanged, so every message is folded block by block from its
    //! first (padded) block and none needs a partial block at its end.

    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_clmulepi64_si128, _mm_extract_epi32, _mm_loadu_si128,
        _mm_or_si128, _mm_set1_epi8, _mm_set_epi32, _mm_set_epi64x, _mm_setr_epi8,
        _mm_setzero_si128, _mm_shuffle_epi8, _mm_srli_si128, _mm_sub_epi8, _mm_xor_si128,
    };
    use std::ops::Range;

    /// x^(128+32) and x^(128-32) mod P, bit-reflected: a fold by one block.
    const K3: i64 = 0x1_7519_97d0;
    const K4: i64 = 0x0_ccaa_009e;
    /// x^64 mod P, bit-reflected: the fold from 64 to 32 bits.
    const K5: i64 = 0x1_63cd_6124;
    /// P and x^64 / P, bit-reflected: the Barrett reduction.
    const P: i64 = 0x1_db71_0641;
    const MU: i64 = 0x1_f701_1641;

    /// How many messages are folded side by side.
    const LANES: usize = 4;

    /// The smallest message folded here (two blocks once padded); shorter ones go through
    /// `crc32fast`.
    const MIN_LEN: usize = 32;

    /// [`super::each`] with PCLMULQDQ.
    ///
    /// # Safety
    ///
    /// The CPU must have PCLMULQDQ, SSSE3 and SSE4.1.
    #[target_feature(enable = "pclmulqdq,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn each(data: &[u8], spans: &[Range<usize>], out: &mut Vec<u32>) {
        let mut groups = spans.chunks_exact(LANES);
        for g in &mut groups {
            let m = [
                &data[g[0].clone()],
                &data[g[1].clone()],
                &data[g[2].clone()],
                &data[g[3].clone()],
            ];
            if m.iter().all(|m| m.len() >= MIN_LEN) {
                out.extend_from_slice(&side_by_side(m));
            } else {
                out.extend(m.iter().map(|m| one(m)));
            }
        }
        out.extend(groups.remainder().iter().map(|s| one(&data[s.clone()])));
    }

    #[target_feature(enable = "pclmulqdq,sse2,ssse3,sse4.1")]
    fn one(m: &[u8]) -> u32 {
        if m.len() < MIN_LEN {
            return crc32fast::hash(m);
        }
        let (x, rest) = start(m);
        finish(x, rest)
    }

    /// Four messages of at least [`MIN_LEN`] bytes, their blocks folded in lockstep while
    /// all have blocks left.
    #[target_feature(enable = "pclmulqdq,sse2,ssse3,sse4.1")]
    fn side_by_side(m: [&[u8]; LANES]) -> [u32; LANES] {
        let mut x = [_mm_setzero_si128(); LANES];
        let mut rest: [&[u8]; LANES] = [&[]; LANES];
        for i in 0..LANES {
            (x[i], rest[i]) = start(m[i]);
        }
        let common = rest.iter().map(|r| r.len()).min().unwrap_or(0) / 16;
        for block in 0..common {
            for i in 0..LANES {
                x[i] = fold(x[i], load(&rest[i][block * 16..]));
            }
        }
        let mut crc = [0; LANES];
        for i in 0..LANES {
            crc[i] = finish(x[i], &rest[i][common * 16..]);
        }
        crc
    }

    /// The register after the first two blocks of `m` padded in front with zeros to a whole
    /// number of blocks, and the rest of `m` (whole blocks). `m` has at least 32 bytes.
    #[target_feature(enable = "pclmulqdq,sse2,ssse3,sse4.1")]
    fn start(m: &[u8]) -> (__m128i, &[u8]) {
        let pad = (16 - m.len() % 16) % 16;
        // The first 32 bytes, the initial register (all ones) folded into the first four.
        let a = _mm_xor_si128(load(m), _mm_set_epi32(0, 0, 0, -1));
        let b = load(&m[16..]);
        // Shuffle masks that move bytes `pad` places up (`up`, a byte pushed past the end is
        // dropped) and `16 - pad` places down (`down`); a lane whose mask has its high bit
        // set is zeroed.
        let seq = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let up = _mm_sub_epi8(seq, _mm_set1_epi8(pad as i8));
        let down = _mm_xor_si128(up, _mm_set1_epi8(i8::MIN));
        let first = _mm_shuffle_epi8(a, up);
        let second = _mm_or_si128(_mm_shuffle_epi8(a, down), _mm_shuffle_epi8(b, up));
        (fold(first, second), &m[32 - pad..])
    }

    /// Folds the remaining whole blocks of `rest` into `x` and reduces it to the CRC.
    #[target_feature(enable = "pclmulqdq,sse2,ssse3,sse4.1")]
    fn finish(mut x: __m128i, mut rest: &[u8]) -> u32 {
        while rest.len() >= 16 {
            x = fold(x, load(rest));
            rest = &rest[16..];
        }
        debug_assert!(rest.is_empty(), "a padded message is whole blocks");
        reduce(x)
    }

    /// `x` carried one block further, plus the next block.
    #[target_feature(enable = "pclmulqdq,sse2")]
    fn fold(x: __m128i, next: __m128i) -> __m128i {
        let k = _mm_set_epi64x(K4, K3);
        let lo = _mm_clmulepi64_si128(x, k, 0x00);
        let hi = _mm_clmulepi64_si128(x, k, 0x11);
        _mm_xor_si128(_mm_xor_si128(lo, hi), next)
    }

    /// The CRC of a message whose remainder register, 128 bits wide, is `x`.
    #[target_feature(enable = "pclmulqdq,sse2,ssse3,sse4.1")]
    fn reduce(x: __m128i) -> u32 {
        let low32 = _mm_set_epi32(0, 0, 0, -1);
        // 128 to 96 bits: the low half carried 64 bits further, plus the high half.
        let k = _mm_set_epi64x(K4, K3);
        let x = _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x10), _mm_srli_si128::<8>(x));
        // 96 to 64 bits.
        let x = _mm_xor_si128(
            _mm_clmulepi64_si128(_mm_and_si128(x, low32), _mm_set_epi64x(0, K5), 0x00),
            _mm_srli_si128::<4>(x),
        );
        // Barrett reduction to 32 bits.
        let pmu = _mm_set_epi64x(MU, P);
        let t1 = _mm_clmulepi64_si128(_mm_and_si128(x, low32), pmu, 0x10);
        let t2 = _mm_clmulepi64_si128(_mm_and_si128(t1, low32), pmu, 0x00);
        !(_mm_extract_epi32::<1>(_mm_xor_si128(x, t2)) as u32)
    }

    /// The first 16 bytes of `bytes`.
    #[target_feature(enable = "sse2")]
    fn load(bytes: &[u8]) -> __m128i {
        let block = &bytes[..16];
        // SAFETY: `block` is 16 readable bytes; the load needs no alignment.
        unsafe { _mm_loadu_si128(block.as_ptr().cast()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn eight_bytes_match_crc32fast() {
        for seed in 0..1000u64 {
            let bytes = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes();
            assert_eq!(of8(bytes), crc32fast::hash(&bytes));
        }
    }

    #[test]
    fn every_length_matches_crc32fast() {
        let data: Vec<u8> = (0..600u32).map(|i| (i * 131 % 251) as u8).collect();
        for len in 0..300 {
            for offset in [0, 1, 7, 15] {
                // Four spans of the same length (folded side by side) and one alone.
                let spans: Vec<_> = (0..5)
                    .map(|k| offset + k * 50..offset + k * 50 + len)
                    .filter(|s| s.end <= data.len())
                    .collect();
                let mut out = Vec::new();
                each(&data, &spans, &mut out);
                let want: Vec<_> = spans
                    .iter()
                    .map(|s| crc32fast::hash(&data[s.clone()]))
                    .collect();
                assert_eq!(out, want, "length {len}, offset {offset}");
            }
        }
    }

    proptest! {
        #[test]
        fn spans_of_any_lengths_match_crc32fast(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            cuts in proptest::collection::vec(0usize..2000, 0..40),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.push(0);
            cuts.push(data.len());
            cuts.sort_unstable();
            let spans: Vec<_> = cuts.windows(2).map(|w| w[0]..w[1]).collect();
            let mut out = vec![7];
            each(&data, &spans, &mut out);
            let mut want = vec![7];
            want.extend(spans.iter().map(|s| crc32fast::hash(&data[s.clone()])));
            prop_assert_eq!(out, want);
        }
    }
}
