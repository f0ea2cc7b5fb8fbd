//! A replay's report shows a contract message as its fields by name where the journal's
//! header carries the schema's text (`JournalSchema::from_generated`), and in hex where it
//! knows the schema by its digest only.

use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Bus, Context, Handler, SpawnOptions};
use mycelium_contracts::{OrderAck, Quote, SCHEMA_CANONICAL, SCHEMA_DIGEST};
use mycelium_journal::{
    JournalOptions, JournalReader, JournalSchema, JournalWriter, Recording, Replay, ReplayMode,
    ReplaySet,
};

/// Acknowledges each quote with an order numbered from `first`.
struct Pricer(u64);

impl Actor for Pricer {
    type Args = u64;
    async fn on_start(first: u64, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Pricer(first))
    }
}

impl Handler<Quote> for Pricer {
    type Reply = OrderAck;
    async fn handle(&mut self, quote: Quote, _: &mut Context<Self>) -> OrderAck {
        self.0 += 1;
        OrderAck {
            client_order_id: self.0,
            venue_order_id: format!("V{}", self.0),
            ts_ns: quote.ts_ns,
            venue_ts_ns: None,
        }
    }
}

async fn record(schema: JournalSchema) -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let journal = JournalWriter::open(dir.path(), JournalOptions::new(schema)).unwrap();
    let recording = Arc::new(
        Recording::new(journal.clone())
            .contract::<Quote>()
            .contract::<OrderAck>(),
    );
    let bus = Bus::builder().virtual_time().build().unwrap();
    let pricer = bus
        .spawn_with::<Pricer>(0, SpawnOptions::new().record(recording))
        .unwrap();
    for ts_ns in 1..=3 {
        let quote = Quote {
            ts_ns,
            instrument: 7,
            bid_px: 99.5,
            bid_qty: 1.0,
            ask_px: 100.5,
            ask_qty: 2.0,
        };
        pricer.ask(quote).await.unwrap();
    }
    pricer.stop();
    pricer.wait_for_stop().await;
    journal.close().unwrap();
    (dir, pricer.id().local())
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_report_shows_contract_messages_by_field_where_the_journal_has_the_schema() {
    let (dir, actor) = record(JournalSchema::from_generated(
        SCHEMA_DIGEST,
        SCHEMA_CANONICAL,
    ))
    .await;
    let journal = JournalReader::open(dir.path()).unwrap();
    // A changed pricer numbers its orders from 100.
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Pricer>::new(100)
        .contract_ask::<Quote>()
        .run(&journal, actor, &bus, ReplayMode::StopAtFirst)
        .await
        .unwrap();
    let first = report.differences.first().expect("a difference");
    assert!(first.message.starts_with("Quote {"), "{report}");
    assert!(first.message.contains("\"bid_px\":99.5"), "{report}");
    assert!(
        first.recorded.contains("\"client_order_id\":1,"),
        "{report}"
    );
    assert!(first.now.contains("\"client_order_id\":101,"), "{report}");
    assert!(
        first.now.contains("\"venue_order_id\":\"V101\""),
        "{report}"
    );

    let bus = Bus::builder().virtual_time().build().unwrap();
    let mut set = ReplaySet::new(&journal).unwrap();
    let pricer = set.spawn::<Pricer>(&bus, actor, 100).unwrap();
    set.contract_ask::<Pricer, Quote>(&pricer);
    let report = set.run(ReplayMode::StopAtFirst).await.unwrap();
    let first = &report.actors[0].differences[0];
    assert!(first.message.contains("\"bid_px\":99.5"), "{report}");
    assert!(first.now.contains("\"client_order_id\":101,"), "{report}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_report_shows_contract_messages_in_hex_where_the_journal_knows_the_digest_only() {
    let (dir, actor) = record(JournalSchema::from_digest(SCHEMA_DIGEST)).await;
    let journal = JournalReader::open(dir.path()).unwrap();
    let bus = Bus::builder().virtual_time().build().unwrap();
    let report = Replay::<Pricer>::new(100)
        .contract_ask::<Quote>()
        .run(&journal, actor, &bus, ReplayMode::StopAtFirst)
        .await
        .unwrap();
    let first = report.differences.first().expect("a difference");
    assert!(!first.message.contains("bid_px"), "{report}");
    assert!(
        first.message["Quote ".len()..]
            .chars()
            .all(|c| c.is_ascii_hexdigit()),
        "{report}"
    );
}
