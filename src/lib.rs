//! Mycelium
