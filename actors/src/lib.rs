//! mycelium-actors
