//! An actor that adds up what it is asked and answers the sum so far: the smallest actor
//! whose every output depends on every input before it.

use mycelium_actors::{Actor, BoxError, Context, Handler};

/// Adds up what it is asked, and answers the sum so far.
pub struct Sum(pub u64);

impl Actor for Sum {
    type Args = ();
    async fn on_start(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Sum(0))
    }
}

impl Handler<u64> for Sum {
    type Reply = u64;
    async fn handle(&mut self, n: u64, _: &mut Context<Self>) -> u64 {
        self.0 += n;
        self.0
    }
}
