//! serde support for arrays of any length (serde's own derives stop at 32 elements).
//! Generated code uses it as `#[serde(with = "mycelium_codec::serde_array")]`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, Error, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

/// Serializes `[T; N]` as a tuple of `N` elements.
pub fn serialize<S: Serializer, T: Serialize, const N: usize>(
    a: &[T; N],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut t = s.serialize_tuple(N)?;
    for e in a {
        t.serialize_element(e)?;
    }
    t.end()
}

/// Deserializes `[T; N]` from a tuple of exactly `N` elements.
pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>, const N: usize>(
    d: D,
) -> Result<[T; N], D::Error> {
    struct V<T, const N: usize>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for V<T, N> {
        type Value = [T; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an array of {N} elements")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[T; N], A::Error> {
            let mut v = Vec::with_capacity(N);
            while let Some(e) = seq.next_element()? {
                if v.len() == N {
                    return Err(A::Error::invalid_length(N + 1, &self));
                }
                v.push(e);
            }
            let len = v.len();
            v.try_into()
                .map_err(|_| A::Error::invalid_length(len, &self))
        }
    }
    d.deserialize_tuple(N, V::<T, N>(PhantomData))
}

/// The same for `Option<[T; N]>`.
pub mod option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) struct Ser<'a, T, const N: usize>(pub(super) &'a [T; N]);

    impl<T: Serialize, const N: usize> Serialize for Ser<'_, T, N> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::serialize(self.0, s)
        }
    }

    pub(super) struct De<T, const N: usize>(pub(super) [T; N]);

    impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for De<T, N> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            super::deserialize(d).map(De)
        }
    }

    /// Serializes `Option<[T; N]>`.
    pub fn serialize<S: Serializer, T: Serialize, const N: usize>(
        a: &Option<[T; N]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.serialize_some(&Ser(a)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes `Option<[T; N]>`.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>, const N: usize>(
        d: D,
    ) -> Result<Option<[T; N]>, D::Error> {
        Ok(Option::<De<T, N>>::deserialize(d)?.map(|x| x.0))
    }
}

/// The same for `Box<[T; N]>`, the type generated code gives arrays of more than 32
/// elements.
pub mod boxed {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serializes `Box<[T; N]>`.
    // `with` hands over a reference to the field, which is a box.
    #[allow(clippy::borrowed_box)]
    pub fn serialize<S: Serializer, T: Serialize, const N: usize>(
        a: &Box<[T; N]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        super::serialize(a, s)
    }

    /// Deserializes `Box<[T; N]>`.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>, const N: usize>(
        d: D,
    ) -> Result<Box<[T; N]>, D::Error> {
        super::deserialize(d).map(Box::new)
    }
}

/// The same for `Option<Box<[T; N]>>`.
pub mod boxed_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::option::{De, Ser};

    /// Serializes `Option<Box<[T; N]>>`.
    pub fn serialize<S: Serializer, T: Serialize, const N: usize>(
        a: &Option<Box<[T; N]>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.serialize_some(&Ser(a)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes `Option<Box<[T; N]>>`.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>, const N: usize>(
        d: D,
    ) -> Result<Option<Box<[T; N]>>, D::Error> {
        Ok(Option::<De<T, N>>::deserialize(d)?.map(|x| Box::new(x.0)))
    }
}
