//! Actors shared by the crate's unit tests.

use crate::{Actor, BoxError, Context};

/// An actor with no state that does nothing: the smallest actor there is, for size budgets.
pub(crate) struct Idle;

impl Actor for Idle {
    type Args = ();
    async fn on_start(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Idle)
    }
}
