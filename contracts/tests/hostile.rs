//! Hostile frames against schemas built to hurt (`tests/schemas/hostile.yaml`): forged
//! counts cannot make a decode allocate more than its budget, and deep nesting cannot
//! overflow a thread's stack.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mycelium_codec::{heap_budget, read::Reader, write, DecodeError, WireMessage, STACK_BUDGET};
use proptest::prelude::*;

#[allow(missing_docs, dead_code, clippy::all)]
mod hostile {
    include!(concat!(env!("OUT_DIR"), "/hostile.rs"));
}
use hostile::{Big, Bomb, Bush, Deep, DeepLists, DeepWide, Node, Wide, WideNode, N};

/// Counts the bytes each thread asks the allocator for (tests run on several threads).
struct Counting;

thread_local! {
    static ASKED: Cell<usize> = const { Cell::new(0) };
}

fn count(n: usize) {
    let _ = ASKED.try_with(|c| c.set(c.get().saturating_add(n)));
}

// SAFETY: every method forwards to the system allocator with the caller's arguments
// unchanged; the thread-local counter is the only addition and does not touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: `ptr` came from this allocator with `layout`; forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes this thread asked the allocator for while `f` ran.
fn asked_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ASKED.with(Cell::get);
    let r = f();
    (r, ASKED.with(Cell::get) - before)
}

const MIB: usize = 1 << 20;

/// A `list<T>` field (tag `tag`) holding `count` empty structs: 4 bytes each on the wire.
fn empty_struct_list(tag: u16, count: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(10 + 4 * count);
    write::key(&mut body, tag, mycelium_codec::WireType::Len);
    write::len(&mut body, 4 + 4 * count);
    write::len(&mut body, count);
    body.resize(body.len() + 4 * count, 0);
    body
}

#[test]
fn forged_list_of_large_structs_cannot_allocate_past_the_budget() {
    // Just under 1 MiB: 262,000 elements of `Big` (an absent [f64; 4096] each).
    let body = empty_struct_list(1, 262_000);
    assert!(body.len() < MIB);
    let (r, asked) = asked_during(|| Bomb::decode_body(&body));
    match r {
        // `Big` holds its array boxed: 16 bytes each, 4 MiB for the lot, within budget.
        Ok(b) => assert_eq!(b.items.len(), 262_000),
        Err(e) => panic!("{e}"),
    }
    assert!(asked <= heap_budget(body.len()), "{asked} bytes");

    // `Wide` holds 16 optional [u64; 32] inline (4 KiB+): 262,000 of them would be 1 GiB.
    let wide = empty_struct_list(2, 262_000);
    let mut body = empty_struct_list(1, 0);
    body.extend_from_slice(&wide);
    let (r, asked) = asked_during(|| Bomb::decode_body(&body));
    assert!(matches!(r, Err(DecodeError::MemoryLimit { .. })), "{r:?}");
    assert!(asked <= heap_budget(body.len()), "{asked} bytes");
    assert!(
        asked < 2 * MIB,
        "refused before allocating, yet {asked} bytes"
    );
}

#[test]
fn honest_lists_of_large_structs_still_decode() {
    let msg = Bomb {
        items: vec![
            Big {
                data: Some(Box::new([1.5; 4096])),
                n: Some(3)
            };
            3
        ],
        wide: Some(vec![
            Wide {
                w0: Some([7; 32]),
                w1: None,
                w2: None,
                w3: None,
                w4: None,
                w5: None,
                w6: None,
                w7: None,
                w8: None,
                w9: None,
                w10: None,
                w11: None,
                w12: None,
                w13: None,
                w14: None,
                w15: Some([9; 32]),
            };
            200
        ]),
        words: Some(vec!["x".repeat(10); 1000]),
        n: Some(N { a: 1, b: 2 }),
    };
    let mut body = Vec::new();
    msg.encode_body(&mut body);
    let (back, asked) = asked_during(|| Bomb::decode_body(&body));
    assert_eq!(back.as_ref(), Ok(&msg));
    assert!(asked <= heap_budget(body.len()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Whatever the bytes, a decode asks the allocator for no more than its budget.
    #[test]
    fn any_body_stays_within_its_heap_budget(
        seed in proptest::collection::vec(any::<u8>(), 0..64),
        count in 0u32..300_000,
        tag in 1u16..4,
    ) {
        // A plausible prefix (a list field with a forged count) followed by noise.
        let mut body = Vec::new();
        write::key(&mut body, tag, mycelium_codec::WireType::Len);
        write::len(&mut body, 4 + 4 * count as usize);
        write::len(&mut body, count as usize);
        body.extend_from_slice(&seed);
        body.resize(body.len() + (4 * count as usize).min(64 * 1024), 0);
        for decode in [
            |b: &[u8]| Bomb::decode_body(b).map(drop),
            |b: &[u8]| Deep::decode_body(b).map(drop),
            |b: &[u8]| DeepWide::decode_body(b).map(drop),
        ] {
            let (_, asked) = asked_during(|| decode(&body));
            prop_assert!(asked <= heap_budget(body.len()), "{} bytes for {}", asked, body.len());
            let (_, asked) = asked_during(|| decode(&seed));
            prop_assert!(asked <= heap_budget(seed.len()));
        }
    }
}

fn node_chain(depth: usize) -> Node {
    let mut n = Node {
        data: Some(Box::new([0.25; 4096])),
        words: None,
        kids: Vec::new(),
    };
    for _ in 0..depth {
        n = Node {
            data: None,
            words: None,
            kids: vec![n],
        };
    }
    n
}

fn wide_chain(depth: usize) -> WideNode {
    let mut n = WideNode {
        wide: None,
        kids: Vec::new(),
    };
    for _ in 0..depth {
        n = WideNode {
            wide: None,
            kids: vec![n],
        };
    }
    n
}

fn bush_chain(depth: usize) -> Bush {
    let mut n = Bush { kids: Vec::new() };
    for _ in 0..depth {
        n = Bush {
            kids: vec![vec![vec![vec![vec![vec![vec![vec![n]]]]]]]],
        };
    }
    n
}

/// Runs `f` on a thread with `stack` bytes of stack; an overflow aborts the test binary.
fn on_thread<R: Send + 'static>(stack: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic")
}

fn body_of<M: WireMessage>(m: &M) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode_body(&mut out);
    out
}

/// Decodes chains of every depth up to past the limits on one thread of `stack` bytes:
/// each decodes or is refused, none overflows. The frames are encoded (and their deep
/// values dropped) on a thread with room to spare: encoding and dropping a chain a thousand
/// levels deep recurse, and only the decoder's stack is under test here.
fn decode_every_depth(stack: usize) {
    let frames = on_thread(256 * MIB, || {
        (0..80)
            .chain([200, 1000])
            .map(|depth| {
                let deep = body_of(&Deep {
                    root: node_chain(depth),
                });
                let wide = body_of(&DeepWide {
                    root: wide_chain(depth),
                });
                let lists = body_of(&DeepLists {
                    root: bush_chain(depth),
                });
                (depth, deep, wide, lists)
            })
            .collect::<Vec<_>>()
    });
    on_thread(stack, move || {
        for (depth, deep, wide, lists) in frames {
            match DeepLists::decode_body(&lists) {
                Ok(_) => assert!(depth < 64, "{depth}"),
                // Eight lists per level: the depth limit, or the stack budget first.
                Err(DecodeError::TooDeep { .. }) => assert!(depth >= 64, "refused at {depth}"),
                Err(DecodeError::StackLimit { needed, limit }) => {
                    assert!(depth >= 8, "refused at depth {depth}");
                    assert!(needed > limit);
                }
                Err(e) => panic!("{depth}: {e}"),
            }
            match Deep::decode_body(&deep) {
                Ok(d) => assert!(depth < 64, "{depth}: {}", d.root.kids.len()),
                // A small struct reaches the depth limit within the stack budget.
                Err(DecodeError::TooDeep { .. }) => assert!(depth >= 64, "refused at {depth}"),
                Err(e) => panic!("{depth}: {e}"),
            }
            match DeepWide::decode_body(&wide) {
                Ok(_) => assert!(depth < 64, "{depth}"),
                // A 4 KiB struct exhausts the stack budget long before 64 levels.
                Err(DecodeError::StackLimit { needed, limit }) => {
                    assert!(depth >= 8, "refused at depth {depth}");
                    assert!(needed > limit);
                }
                Err(e) => panic!("{depth}: {e}"),
            }
        }
    });
}

/// The default stack of a Rust or tokio thread.
#[test]
fn deep_nesting_fits_a_two_mib_thread() {
    decode_every_depth(2 * MIB);
}

/// Tighter than any thread the library runs on: the budget plus 256 KiB for the caller.
/// This test suite runs in debug, whose frames are larger than release ones, so passing
/// here shows the estimate holds for the larger frames too.
#[test]
fn deep_nesting_fits_the_stack_budget_plus_a_margin() {
    decode_every_depth(STACK_BUDGET + 256 * 1024);
}

/// Finds how small a stack decoding still fits in (run by hand when changing the frame
/// estimate): `MYCELIUM_STACK=bytes cargo test -p mycelium-contracts --test hostile -- --ignored calibrate`.
#[test]
#[ignore]
fn calibrate() {
    let stack: usize = std::env::var("MYCELIUM_STACK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2 * MIB);
    let depth: usize = std::env::var("MYCELIUM_DEPTH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(63);
    let wide = std::env::var("MYCELIUM_WIDE").is_ok();
    let body = if wide {
        body_of(&DeepWide {
            root: wide_chain(depth),
        })
    } else {
        body_of(&Deep {
            root: node_chain(depth),
        })
    };
    let r = on_thread(stack, move || {
        if wide {
            DeepWide::decode_body(&body).map(std::mem::forget)
        } else {
            Deep::decode_body(&body).map(std::mem::forget)
        }
    });
    println!("stack {stack} depth {depth}: {r:?}");
    let _ = Reader::new(&[]);
}
