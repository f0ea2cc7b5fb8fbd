//! The names of contract messages, as a host language's generated modules give them: what a
//! failure calls the message a handler failed on ("raised while handling `Order`") and what
//! a journal calls a recorded message, for a schema of the team's own.

use std::collections::HashMap;
use std::ffi::c_char;
use std::sync::{OnceLock, RwLock};

use crate::error::{guard, text, Error, MycStatus};

/// By type id: each schema's (by digest) name for it.
type Names = HashMap<u16, Vec<(String, &'static str)>>;

fn names() -> &'static RwLock<Names> {
    static NAMES: OnceLock<RwLock<Names>> = OnceLock::new();
    NAMES.get_or_init(RwLock::default)
}

/// The name of the contract message `type_id`, when every schema named to this library that
/// has the id gives it the same name (a process with two schemas that share an id and not
/// its name has no name for it).
pub(crate) fn name_of(type_id: u16) -> Option<&'static str> {
    let names = names().read().unwrap_or_else(|e| e.into_inner());
    let given = names.get(&type_id)?;
    let first = given.first()?.1;
    given.iter().all(|(_, n)| *n == first).then_some(first)
}

/// Names the contract message `type_id` of the schema whose digest is `digest_hex` (as the
/// generated modules hold it) `name`, for the failures and journals of foreign actors. A
/// generated OCaml module names each of its messages when it is made. `InvalidArgument` for
/// a type id the contracts cannot use (`0xFFFF`) or an empty name.
///
/// # Safety
/// `digest_hex` and `name` are NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn myc_contract_name(
    digest_hex: *const c_char,
    type_id: u16,
    name: *const c_char,
) -> MycStatus {
    guard(|| {
        // SAFETY: per contract.
        let (digest, name) = unsafe { (text(digest_hex, "digest_hex")?, text(name, "name")?) };
        if type_id == u16::MAX || name.is_empty() {
            return Err(Error::invalid(format!(
                "type id {type_id} named {name:?}: a contract message has an id below 65535 \
                 and a name"
            )));
        }
        let name = mycelium_foreign::recording::static_name(name);
        let mut names = names().write().unwrap_or_else(|e| e.into_inner());
        let given = names.entry(type_id).or_default();
        match given.iter_mut().find(|(d, _)| d == digest) {
            Some(entry) => entry.1 = name,
            None => given.push((digest.to_owned(), name)),
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn named(digest: &str, type_id: u16, name: &str) -> MycStatus {
        let (d, n) = (CString::new(digest).unwrap(), CString::new(name).unwrap());
        // SAFETY: both are NUL-terminated strings that outlive the call.
        unsafe { myc_contract_name(d.as_ptr(), type_id, n.as_ptr()) }
    }

    #[test]
    fn a_name_is_kept_unless_two_schemas_disagree() {
        assert_eq!(named("aa", 40_001, "Order"), MycStatus::Ok);
        assert_eq!(name_of(40_001), Some("Order"));
        assert_eq!(named("bb", 40_001, "Order"), MycStatus::Ok);
        assert_eq!(name_of(40_001), Some("Order"));
        assert_eq!(named("cc", 40_001, "Fill"), MycStatus::Ok);
        assert_eq!(name_of(40_001), None);
        assert_eq!(name_of(40_002), None);
        assert_eq!(named("aa", u16::MAX, "X"), MycStatus::InvalidArgument);
        assert_eq!(named("aa", 40_003, ""), MycStatus::InvalidArgument);
    }
}
