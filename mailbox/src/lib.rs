//! mycelium-mailbox
