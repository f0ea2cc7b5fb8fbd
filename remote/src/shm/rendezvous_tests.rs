//! Unit tests of how shared-memory links are set up.

use super::*;

#[test]
fn names_of_processes_with_the_same_pid_differ() {
    // Two processes of one pid (in two pid namespaces) draw their nonces independently.
    let (a, b) = (fresh_nonce(), fresh_nonce());
    assert_ne!(a, b);
    assert_ne!(link_name(1, a, 0), link_name(1, b, 0));
    // Within a process, the nonce stays.
    assert_eq!(process_nonce(), process_nonce());
    // The longest name still fits a default prefix.
    let longest = link_name(u32::MAX, u64::MAX, u64::MAX);
    segment_name("mycelium", &longest).unwrap();
}
