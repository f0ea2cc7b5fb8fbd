//! Placeholder: owned by the contracts work.
