//! A recursive struct cannot make the decoder recurse without bound.

use mycelium_codec::{read::Reader, write, DecodeError, WireStruct, WireType, MAX_DEPTH};

/// `Tree { kids: list<Tree> }`.
#[derive(Debug)]
struct Tree {
    kids: Vec<Tree>,
}

impl WireStruct for Tree {
    const NAME: &'static str = "Tree";
    fn encode_fields(&self, out: &mut Vec<u8>) {
        write::key(out, 1, WireType::Len);
        write::list(out, &self.kids, write::nested);
    }
    fn decode_fields(mut r: Reader<'_>) -> Result<Self, DecodeError> {
        let mut kids = Vec::new();
        while let Some((tag, wire)) = r.key()? {
            match tag {
                1 => kids = r.list(None, |r| r.nested::<Tree>())?,
                _ => r.skip(wire)?,
            }
        }
        Ok(Tree { kids })
    }
}

fn chain(depth: u32) -> Tree {
    let mut t = Tree { kids: Vec::new() };
    for _ in 0..depth {
        t = Tree { kids: vec![t] };
    }
    t
}

fn round_trip(depth: u32) -> Result<Tree, DecodeError> {
    let mut out = Vec::new();
    write::nested(&mut out, &chain(depth));
    Reader::new(&out).nested::<Tree>()
}

#[test]
fn nesting_up_to_the_limit_decodes() {
    assert!(round_trip(MAX_DEPTH - 1).is_ok());
}

#[test]
fn nesting_past_the_limit_is_an_error() {
    assert_eq!(
        round_trip(MAX_DEPTH + 5).err(),
        Some(DecodeError::TooDeep { max: MAX_DEPTH })
    );
}
