//! mycelium-supervisor
