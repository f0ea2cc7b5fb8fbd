//! A dispatcher of tells only that counts them, and the hold that keeps one inside its
//! delivery until the test releases it.

use std::sync::Arc;

/// A dispatcher of tells only, which counts them. Its deliveries are ready at once and take
/// none of the task's cooperative budget, except the first when it is given a hold: that one
/// says it got there and waits, inside its delivery, until the test releases it.
#[derive(Default)]
pub(crate) struct TellSink {
    pub(crate) delivered: Arc<std::sync::atomic::AtomicU64>,
    pub(crate) hold: std::sync::Mutex<Option<Hold>>,
}

pub(crate) struct Hold {
    pub(crate) entered: tokio::sync::oneshot::Sender<()>,
    pub(crate) release: tokio::sync::oneshot::Receiver<()>,
}

impl mycelium_remote::Dispatch for TellSink {
    fn tell<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: &'a [u8],
    ) -> mycelium_actors::BoxFuture<'a, Result<(), mycelium_remote::DispatchError>> {
        self.delivered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let hold = self.hold.lock().unwrap().take();
        Box::pin(async move {
            if let Some(Hold { entered, release }) = hold {
                let _ = entered.send(());
                let _ = release.await;
            }
            Ok(())
        })
    }
    fn ask<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: &'a [u8],
    ) -> mycelium_actors::BoxFuture<
        'a,
        Result<mycelium_remote::ReplyFuture, mycelium_remote::DispatchError>,
    > {
        Box::pin(async { Err(mycelium_remote::DispatchError::Failed("tells only".into())) })
    }
    fn publish<'a>(
        &'a self,
        _: &'a str,
        _: u16,
        _: Option<u64>,
        _: &'a [u8],
    ) -> mycelium_actors::BoxFuture<'a, Result<(), mycelium_remote::DispatchError>> {
        Box::pin(async { Ok(()) })
    }
}
