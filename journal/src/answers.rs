//! The answers a recorded actor got to its asks, served again: the other side of an ask
//! when the actor is replayed alone (its node's links, or actors not replayed with it).
//!
//! ```
//! use std::sync::Arc;
//! use mycelium_actors::{actor_from_args, Bus, Context, Handler, ReplyRecipient, SpawnOptions};
//! use mycelium_journal::{
//!     JournalOptions, JournalReader, JournalSchema, JournalWriter, RecordedAnswers, Recording,
//!     Replay, ReplayMode,
//! };
//!
//! /// Asks a pricer for each quantity it is told, and keeps the sum of the prices.
//! #[derive(Clone)]
//! struct Trader(ReplyRecipient<u32, u64>, u64);
//! actor_from_args!(Trader);
//! impl Handler<u32> for Trader {
//!     type Reply = u64;
//!     async fn handle(&mut self, qty: u32, _ctx: &mut Context<Self>) -> u64 {
//!         self.1 += self.0.ask(qty).await.unwrap_or(0);
//!         self.1
//!     }
//! }
//! #[derive(Clone)]
//! struct Pricer;
//! actor_from_args!(Pricer);
//! impl Handler<u32> for Pricer {
//!     type Reply = u64;
//!     async fn handle(&mut self, qty: u32, _ctx: &mut Context<Self>) -> u64 {
//!         u64::from(qty) * 10
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let journal = JournalWriter::open(dir.path(), JournalOptions::new(JournalSchema::none())).unwrap();
//! let recording = Arc::new(Recording::new(journal.clone()).serde::<u32>().serde::<u64>());
//! let live = Bus::builder().virtual_time().build().unwrap();
//! let pricer = live.spawn::<Pricer>(Pricer).reply_recipient();   // not recorded
//! let trader = live
//!     .spawn_with::<Trader>(Trader(pricer, 0), SpawnOptions::new().record(recording))
//!     .unwrap();
//! assert_eq!(trader.ask(2u32).await.unwrap(), 20);
//! assert_eq!(trader.ask(3u32).await.unwrap(), 50);
//! journal.close().unwrap();
//!
//! // The trader replayed alone: the pricer's answers come from the journal.
//! let journal = JournalReader::open(dir.path()).unwrap();
//! let bus = Bus::builder().virtual_time().build().unwrap();
//! let number = trader.id().local();
//! let pricer = RecordedAnswers::<u32, u64>::serde(&journal, number).unwrap().reply_recipient(&bus);
//! let report = Replay::<Trader>::new(Trader(pricer, 0))
//!     .serde::<u32>()
//!     .run(&journal, number, &bus, ReplayMode::StopAtFirst)
//!     .await
//!     .unwrap();
//! assert!(report.differences.is_empty(), "{report}");
//! # });
//! ```
//!
//! The answers are the actor's `answered` records of the reply type. An ask the replayed
//! actor makes while handling a recorded input gets the next answer recorded while that input
//! was handled, so that a changed actor that asks more or fewer times for one input leaves
//! the others' answers where they were (in a [`Replay`](crate::Replay) or a
//! [`ReplaySet`](crate::ReplaySet); outside a replay, each ask gets the next recorded
//! answer). An ask whose recorded answer was an error, or that finds no
//! recorded answer left, gets
//! [`AskError::Lost`](mycelium_actors::AskError::Lost) with a reason that says so (and the
//! replay's comparison of what the actor does then shows the difference).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use mycelium_actors::recording::{replayed_input, unattributed, unattributed_now};
use mycelium_actors::{
    ActorId, Bus, Clock, MessageSink, NodeId, Queued, Recipient, ReplyRecipient, ReplySender,
    RequestSink, SendError, TrySendError,
};
use mycelium_codec::WireMessage;

use crate::reader::JournalReader;
use crate::record::{Encoding, Kind, Origin, Record};
use crate::replay::{decode_contract, short_name, ReplayError, NOT_RECORDED};

/// A recorded answer: the reply, or the asker's error as it read.
type Answer<R> = Result<R, String>;

/// Recorded answers to one actor's asks, each with the input the actor was handling when it
/// came (`None`: outside any input, as in `on_start`), in recorded order; served per input,
/// as [`RecordedAnswers`] and the language bindings' stand-ins serve them. Inputs are numbered
/// in the order the actor handles them (record numbers, or counts from 0).
#[derive(Debug)]
pub struct AnswersByInput<T>(VecDeque<(Option<u64>, T)>);

/// Why [`AnswersByInput::take`] has no answer for an ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoAnswer {
    /// None is left: the recorded actor asked fewer times in all.
    Left,
    /// None was recorded for one more ask during this input: the recorded actor asked fewer
    /// times while handling it.
    During(u64),
    /// The actor asks while handling a message the recording does not have (input
    /// `u64::MAX`, as a [`Replay`](crate::Replay) numbers it).
    NotRecorded,
}

impl<T> AnswersByInput<T> {
    /// The answers, in recorded order, each with the input it came during.
    pub fn new(answers: impl IntoIterator<Item = (Option<u64>, T)>) -> Self {
        AnswersByInput(answers.into_iter().collect())
    }

    /// How many are left.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The answer for an ask the actor makes while handling input `input`: the next one
    /// recorded during that input, or one recorded outside any input. `None`: the asker's
    /// input is not known, and the next answer in recorded order is taken.
    pub fn take(&mut self, input: Option<u64>) -> Result<T, NoAnswer> {
        let Some(input) = input else {
            return self.0.pop_front().map(|(_, a)| a).ok_or(NoAnswer::Left);
        };
        if input != NOT_RECORDED {
            // Inputs are handled in order: what earlier ones did not ask for is never asked.
            while self
                .0
                .front()
                .is_some_and(|(during, _)| during.is_some_and(|d| d < input))
            {
                self.0.pop_front();
            }
        }
        match self.0.front() {
            Some((during, _)) if *during == Some(input) || during.is_none() => {
                self.0.pop_front().map(|(_, a)| a).ok_or(NoAnswer::Left)
            }
            _ if input == NOT_RECORDED => Err(NoAnswer::NotRecorded),
            _ => Err(NoAnswer::During(input)),
        }
    }
}

/// The answers a recorded actor got to its asks of type `M` answered with `R`, to serve to
/// its replay through [`reply_recipient`](Self::reply_recipient); see the module docs.
pub struct RecordedAnswers<M, R> {
    answers: AnswersByInput<Answer<R>>,
    /// Who the asks went to (the receiver of the first recorded ask of `M`).
    asked: ActorId,
    observer: Option<Recipient<M>>,
}

impl<M, R> std::fmt::Debug for RecordedAnswers<M, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordedAnswers")
            .field("answers", &self.answers.len())
            .field("asked", &self.asked)
            .finish_non_exhaustive()
    }
}

impl<M: Send + 'static, R: Send + 'static> RecordedAnswers<M, R> {
    /// Reads the answers of type `R` that actor number `actor` of `journal` got, decoding
    /// each with `decode`. Stops at a gap or a cut record, as a replay does.
    fn read(
        journal: &JournalReader,
        actor: u64,
        decode: impl Fn(&Record) -> Result<R, String>,
    ) -> Result<Self, ReplayError> {
        let reply_name = short_name::<R>();
        let ask_name = short_name::<M>();
        let mut answers = VecDeque::new();
        let mut asked = None;
        let mut records = journal.records();
        while let Some(record) = records.next_ref() {
            let record = record?;
            match record.kind {
                Kind::Gap | Kind::Cut | Kind::Resumed => break,
                _ if record.actor.id != actor || record.actor.node != 0 => {}
                Kind::Sent if record.asked && record.name == ask_name && asked.is_none() => {
                    if let Origin::Actor(to) = record.origin {
                        asked = Some(ActorId::new(NodeId::new(to.node), to.id));
                    }
                }
                Kind::Answered if record.name == reply_name => {
                    let answer = match record.encoding {
                        Encoding::Text => Err(String::from_utf8_lossy(record.payload).into_owned()),
                        Encoding::Empty => {
                            return Err(ReplayError::Input {
                                seq: record.seq,
                                name: record.name.to_owned(),
                                reason: "the answer was recorded without its payload (no codec \
                                         was chosen for its type)"
                                    .to_owned(),
                            })
                        }
                        _ => Ok(decode(&record.to_record()).map_err(|reason| {
                            ReplayError::Input {
                                seq: record.seq,
                                name: record.name.to_owned(),
                                reason: format!("the recorded answer does not decode: {reason}"),
                            }
                        })?),
                    };
                    answers.push_back((record.cause, answer));
                }
                _ => {}
            }
        }
        Ok(RecordedAnswers {
            answers: AnswersByInput(answers),
            asked: asked.unwrap_or(ActorId::new(NodeId::new(0), 0)),
            observer: None,
        })
    }

    /// Answers recorded as JSON (`Recording::serde::<R>()`).
    pub fn serde(journal: &JournalReader, actor: u64) -> Result<Self, ReplayError>
    where
        R: serde::de::DeserializeOwned,
    {
        Self::read(journal, actor, |record| {
            if record.encoding != Encoding::Json {
                return Err(format!(
                    "it was recorded as {}, not JSON",
                    record.encoding.name()
                ));
            }
            serde_json::from_slice(&record.payload).map_err(|e| e.to_string())
        })
    }

    /// Answers of a contract type (`Recording::contract::<R>()`).
    pub fn contract(journal: &JournalReader, actor: u64) -> Result<Self, ReplayError>
    where
        R: WireMessage,
    {
        Self::read(journal, actor, decode_contract::<R>)
    }

    /// How many answers were recorded.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Tells `observer` each message the replayed actor asks (or tells) before answering it,
    /// so that a program sees what the replay sends the other side (its orders, say).
    pub fn observe(mut self, observer: Recipient<M>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The address to give the replayed actor in place of the one it asked live. `bus` is the
    /// replay's (its clock times the asks).
    ///
    /// An ask made while the actor handles a recorded input (in a [`Replay`](crate::Replay))
    /// gets the next answer recorded during that input: an actor changed to ask more or
    /// fewer times while handling one input gets the answers of the others as recorded, and
    /// the replay reports the difference where it is. Elsewhere (an actor not replayed by a
    /// [`Replay`](crate::Replay)), each ask gets the next recorded answer.
    pub fn reply_recipient(self, bus: &Bus) -> ReplyRecipient<M, R> {
        ReplyRecipient::new(Arc::new(Serve {
            answers: Mutex::new(self.answers),
            served: Mutex::new(0),
            asked: self.asked,
            observer: self.observer,
            clock: bus.clock().clone(),
        }))
    }
}

/// The sink that serves recorded answers.
struct Serve<M, R> {
    answers: Mutex<AnswersByInput<Answer<R>>>,
    served: Mutex<u64>,
    asked: ActorId,
    observer: Option<Recipient<M>>,
    clock: Clock,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl<M: Send + 'static, R: Send + 'static> Serve<M, R> {
    /// The next recorded answer for an ask made during recorded input `input` (`None`:
    /// the asker's input is not followed), or why there is none.
    fn next(&self, input: Option<u64>) -> Answer<R> {
        let ask = self.served.lock().map_or(0, |mut n| {
            *n += 1;
            *n
        });
        let answer = self
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(input);
        let why = match answer {
            Ok(Ok(reply)) => return Ok(reply),
            Ok(Err(error)) => {
                return Err(format!(
                    "the recorded answer to ask {ask} was an error: {error}"
                ))
            }
            Err(NoAnswer::Left) => "the recorded actor asked fewer times".to_owned(),
            Err(NoAnswer::During(input)) => {
                format!("the recorded actor asked fewer times while handling record {input}")
            }
            Err(NoAnswer::NotRecorded) => "the replayed actor asked while handling a message \
                                           the recording does not have"
                .to_owned(),
        };
        Err(format!("the journal holds no answer for ask {ask}: {why}"))
    }
}

impl<M: Send + 'static, R: Send + 'static> MessageSink<M> for Serve<M, R> {
    fn try_tell(&self, msg: M) -> Result<(), TrySendError<M>> {
        match &self.observer {
            Some(observer) => unattributed_now(|| observer.try_tell(msg)),
            None => Ok(()),
        }
    }

    fn tell(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>> {
        Box::pin(async move {
            match &self.observer {
                Some(observer) => unattributed(observer.tell(msg)).await,
                None => Ok(()),
            }
        })
    }

    fn id(&self) -> ActorId {
        self.asked
    }

    fn is_alive(&self) -> bool {
        true
    }
}

impl<M: Send + 'static, R: Send + 'static> RequestSink<M, R> for Serve<M, R> {
    fn send_request(&self, msg: M, reply: ReplySender<R>) -> Queued<'_, M> {
        // Read here, in the asker's handler, not in the future a later poll runs.
        let input = replayed_input();
        Queued::Waiting(Box::pin(async move {
            if let Some(observer) = &self.observer {
                unattributed(observer.tell(msg)).await?;
            }
            match self.next(input) {
                Ok(answer) => {
                    // An asker that gave up does not take it: nothing to do.
                    let _ = reply.send(answer);
                }
                Err(reason) => reply.lost(self.asked.node(), reason),
            }
            Ok(())
        }))
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each input's asks take the answers recorded during it; an answer recorded outside any
    /// input goes to whoever asks for it first; what an earlier input left is dropped; an
    /// input the recording does not have takes none recorded during another.
    #[test]
    fn answers_are_taken_per_input() {
        let mut answers = AnswersByInput::new([
            (None, "at start"),
            (Some(10), "10a"),
            (Some(10), "10b"),
            (Some(12), "12"),
            (Some(15), "15"),
        ]);
        assert_eq!(answers.take(Some(10)), Ok("at start"));
        assert_eq!(answers.take(Some(10)), Ok("10a"));
        assert_eq!(answers.take(Some(NOT_RECORDED)), Err(NoAnswer::NotRecorded));
        // Input 11 asked nothing live: input 10's second answer is not its to take.
        assert_eq!(answers.take(Some(11)), Err(NoAnswer::During(11)));
        assert_eq!(answers.len(), 2, "input 10's leftover answer is gone");
        assert_eq!(answers.take(Some(12)), Ok("12"));
        assert_eq!(answers.take(Some(12)), Err(NoAnswer::During(12)));
        // Not followed: the next in recorded order.
        assert_eq!(answers.take(None), Ok("15"));
        assert_eq!(answers.take(None), Err(NoAnswer::Left));
        assert_eq!(answers.take(Some(16)), Err(NoAnswer::During(16)));
        assert!(answers.is_empty());
    }
}
