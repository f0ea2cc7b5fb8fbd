//! A remote service by name: typed tell, try_tell and ask of contract messages.

use std::sync::Arc;

use mycelium_codec::WireMessage;

use crate::error::{RemoteAskError, SendError};
use crate::frame::Kind;
use crate::link::Link;

/// A service hosted on another node, reached over the link to that node.
#[derive(Clone)]
pub struct RemoteService {
    link: Link,
    name: Arc<str>,
}

impl std::fmt::Debug for RemoteService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteService({} on {})", self.name, self.link.peer())
    }
}

impl RemoteService {
    /// The service `name` behind `link`.
    pub fn new(link: Link, name: &str) -> Self {
        RemoteService {
            link,
            name: Arc::from(name),
        }
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The link it is reached through.
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// Sends `msg`, waiting for room in the link's queue. Returns the message's sequence
    /// number on the link: a loss report that covers it names it
    /// ([`LostMessage::seq`](crate::LostMessage::seq), with the message's type id and this
    /// service's name), so the caller can tell which of its sends were lost.
    pub async fn tell<M: WireMessage>(&self, msg: &M) -> Result<u64, SendError> {
        self.link
            .send(Kind::Tell, &self.name, M::TYPE_ID, |out| {
                msg.encode_body(out)
            })
            .await
    }

    /// Sends `msg` if the link's queue has room; otherwise hands it back with the reason.
    /// Returns the message's sequence number on the link, as [`tell`](Self::tell) does.
    pub fn try_tell<M: WireMessage>(&self, msg: M) -> Result<u64, (M, SendError)> {
        match self
            .link
            .try_send(Kind::Tell, &self.name, M::TYPE_ID, |out| {
                msg.encode_body(out)
            }) {
            Ok(seq) => Ok(seq),
            Err(e) => Err((msg, e)),
        }
    }

    /// Sends `msg` and waits for a reply of type `R`.
    pub async fn ask<M: WireMessage, R: WireMessage>(&self, msg: &M) -> Result<R, RemoteAskError> {
        let (type_id, body) = self
            .link
            .ask(&self.name, M::TYPE_ID, |out| msg.encode_body(out))
            .await?;
        if type_id != R::TYPE_ID {
            return Err(RemoteAskError::BadReply(format!(
                "expected a {} (type id {}), got type id {type_id}",
                R::NAME,
                R::TYPE_ID
            )));
        }
        R::decode_body(&body).map_err(|e| RemoteAskError::BadReply(format!("{}: {e}", R::NAME)))
    }
}
