//! Payloads as a person reads them in a replay's report: JSON as it is, a contract message's
//! fields by name where the journal's header carries its schema's text
//! ([`contract_json`](crate::contract_json)), other bytes in hex.

use mycelium_codegen::model::Schema;

use crate::contract_json::{hex, to_json};
use crate::reader::JournalReader;
use crate::record::{Encoding, Record};
use crate::replay::Output;

/// Shows a payload of the type named `name` as a person reads it, or `None` to leave it to
/// the report (a binding shows its language's serialized objects: Python's pickles).
pub type ShowPayload = std::sync::Arc<dyn Fn(&str, &[u8]) -> Option<String> + Send + Sync>;

/// How a report shows payloads: with the schema of the journal it replays, if it has one.
#[derive(Default)]
pub(crate) struct Shown {
    schema: Option<Schema>,
    custom: Option<ShowPayload>,
}

impl Shown {
    /// Payloads of `journal`, whose header may carry the text of its contract schema.
    pub(crate) fn of(journal: &JournalReader) -> Shown {
        Shown {
            schema: journal.header().schema.schema().and_then(Result::ok),
            custom: None,
        }
    }

    /// Shows payloads first with `show`.
    pub(crate) fn with(&mut self, show: ShowPayload) {
        self.custom = Some(show);
    }

    /// The payload of a message of type `name`: text as it is; as the binding's `custom`
    /// shows it, where it does; a contract message of the schema as a JSON object of its
    /// fields; else its bytes in hex.
    pub(crate) fn payload(&self, name: &str, payload: &[u8]) -> String {
        if let Ok(text) = std::str::from_utf8(payload) {
            if !text.chars().any(char::is_control) {
                return text.to_owned();
            }
        }
        self.custom
            .as_ref()
            .and_then(|show| show(name, payload))
            .or_else(|| self.contract(name, payload))
            .unwrap_or_else(|| hex(payload))
    }

    fn contract(&self, name: &str, payload: &[u8]) -> Option<String> {
        let schema = self.schema.as_ref()?;
        let message = schema.messages.iter().find(|m| m.name == name)?;
        to_json(schema, message.id, payload).map(|v| v.to_string())
    }

    /// A recorded input: its type and payload.
    pub(crate) fn input(&self, record: &Record) -> String {
        let payload = match record.encoding {
            Encoding::Contract => self
                .contract(&record.name, &record.payload)
                .unwrap_or_else(|| hex(&record.payload)),
            _ => self.payload(&record.name, &record.payload),
        };
        format!("{} {payload}", record.name)
    }

    /// One output, as [`Output`]'s `Display` shows it, its payload as [`payload`](Self::payload)
    /// does.
    pub(crate) fn output(&self, output: &Output) -> String {
        let with = |head: String, name: &str, payload: &Option<Vec<u8>>| match payload {
            Some(p) => format!("{head} {}", self.payload(name, p)),
            None => head,
        };
        match output {
            Output::Timer {
                name,
                timer,
                time_ns,
            } => format!(
                "timer {timer} sent {name} at {}.{:09}s",
                time_ns / 1_000_000_000,
                time_ns % 1_000_000_000
            ),
            Output::Replied { name, payload } => {
                format!("replied {name} {}", self.payload(name, payload))
            }
            Output::Received { name, payload } => with(format!("received {name}"), name, payload),
            Output::Sent {
                how,
                name,
                topic,
                payload,
            } => {
                let head = if topic.is_empty() {
                    format!("{how} {name}")
                } else {
                    format!("{how} {name} on {topic}")
                };
                with(head, name, payload)
            }
            Output::Failed(reason) => format!("failed: {reason}"),
            Output::Stopped(reason) => format!("stopped: {reason}"),
            Output::CutShort => "(the recording was cut here)".to_owned(),
        }
    }

    /// Outputs in a line: "nothing" for none.
    pub(crate) fn outputs(&self, outputs: &[Output]) -> String {
        if outputs.is_empty() {
            return "nothing".to_owned();
        }
        outputs
            .iter()
            .map(|o| self.output(o))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Outputs, one a line.
    pub(crate) fn lines(&self, outputs: &[Output]) -> Vec<String> {
        outputs.iter().map(|o| self.output(o)).collect()
    }
}
