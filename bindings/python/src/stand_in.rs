//! Stand-ins for the services replayed Python actors reach by name: on the replay's bus each
//! takes their tells and answers each actor's asks with the answers the recording holds for
//! it, each input's asks with the answers recorded while that input was handled; what the
//! actors send them is recorded (and compared) as any send.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mycelium_actors::export::{ByteRefusal, ByteReply, ByteService};
use mycelium_actors::recording::Refusal;
use mycelium_actors::{ActorId, AskError, BoxFuture, Failure, NodeId, Phase};
use mycelium_foreign::recording::{handling_actor, handling_input, report_sent, report_told};
use mycelium_foreign::ForeignMessage;
use mycelium_journal::{AnswersByInput, NoAnswer};

/// One recorded answer: the reply's type id and body, or the asker's error as it read.
pub(crate) type Answer = Result<(u16, Vec<u8>), String>;

/// A recorded answer as Python gives it: `(type id, body, None, input)`, or
/// `(0, b"", error text, input)`; `input`: which of the asker's inputs (0 for its first) it
/// was handling when the answer came, `None` if none.
pub(crate) type GivenAnswer = (u16, Vec<u8>, Option<String>, Option<u64>);

/// A recorded answer and the asker's input it came during.
pub(crate) type During = (Option<u64>, Answer);

/// The recorded answers, shared by every stand-in of one replay, by the replayed actor they
/// were given to (its number on the replay's bus; `None`: whichever actor asks): each
/// actor's asks take its own, whichever service it asks, those made while it handles an
/// input the answers recorded during that input.
pub(crate) struct Answers(Mutex<HashMap<Option<u64>, AnswersByInput<Answer>>>);

impl Answers {
    pub(crate) fn new(answers: Vec<(Option<u64>, Vec<During>)>) -> Arc<Self> {
        let by_actor = answers
            .into_iter()
            .map(|(actor, answers)| (actor, AnswersByInput::new(answers)))
            .collect();
        Arc::new(Answers(Mutex::new(by_actor)))
    }

    /// The next answer for the replayed actor whose handler asks on this thread.
    fn next(&self) -> Result<Answer, NoAnswer> {
        let asker = handling_actor().map(ActorId::local);
        let mut by_actor = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let own = asker.is_some() && by_actor.contains_key(&asker);
        by_actor
            .get_mut(&if own { asker } else { None })
            .ok_or(NoAnswer::Left)?
            .take(handling_input())
    }
}

/// The stand-in for the service `name`.
pub(crate) struct StandIn {
    name: Arc<str>,
    /// An id of no actor of the bus (a stand-in is none): numbered down from the top.
    id: ActorId,
    answers: Arc<Answers>,
}

impl StandIn {
    /// The `n`th stand-in of a replay, for `name`.
    pub(crate) fn new(name: &str, n: u64, answers: Arc<Answers>) -> Self {
        StandIn {
            name: Arc::from(name),
            id: ActorId::new(NodeId::LOCAL, u64::MAX - n),
            answers,
        }
    }

    fn sent(&self, asked: bool, type_id: u16, body: &[u8]) {
        let msg = ForeignMessage {
            type_id,
            body: body.to_vec(),
        };
        report_sent(self.id, asked, &msg);
    }

    /// Takes a tell: refused as it was when recorded, if it was.
    fn told(&self, type_id: u16, body: &[u8]) -> Result<(), ByteRefusal> {
        let msg = ForeignMessage {
            type_id,
            body: body.to_vec(),
        };
        match report_told(self.id, &msg) {
            None => Ok(()),
            Some(Refusal::Full) => Err(ByteRefusal::Full),
            Some(Refusal::Stopped) => Err(ByteRefusal::Stopped),
        }
    }
}

impl ByteService for StandIn {
    fn id(&self) -> ActorId {
        self.id
    }

    fn is_alive(&self) -> bool {
        true
    }

    fn try_tell(&self, type_id: u16, body: &[u8]) -> Result<(), ByteRefusal> {
        self.told(type_id, body)
    }

    fn tell(&self, type_id: u16, body: &[u8]) -> BoxFuture<'static, Result<(), ByteRefusal>> {
        Box::pin(std::future::ready(self.told(type_id, body)))
    }

    fn ask(
        &self,
        type_id: u16,
        body: &[u8],
        _timeout: Option<Duration>,
    ) -> BoxFuture<'static, ByteReply> {
        self.sent(true, type_id, body);
        let failed = |error: String| {
            AskError::Failed(Failure::from_error(
                Phase::Message("a recorded answer"),
                error,
            ))
        };
        let reply = match self.answers.next() {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(failed(error)),
            Err(NoAnswer::Left) => Err(failed(format!(
                "the replay's stand-in for `{}` has no recorded answer left: the replayed \
                 actor asks more than the recorded one did",
                self.name
            ))),
            Err(NoAnswer::During(input)) => Err(failed(format!(
                "the replay's stand-in for `{}` has no recorded answer for this ask: the \
                 recorded actor asked fewer times while handling its input {input}",
                self.name
            ))),
            Err(NoAnswer::NotRecorded) => Err(failed(format!(
                "the replay's stand-in for `{}` has no recorded answer for this ask: the \
                 replayed actor asked while handling a message the recording does not have",
                self.name
            ))),
        };
        Box::pin(std::future::ready(reply))
    }
}
