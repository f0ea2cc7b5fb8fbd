//! `--data journal`: a recorded live run's market data backtests like the CSV it was fed.

use std::sync::Arc;

use mycelium_actors::{actor_from_args, Bus, Context, Handler, SpawnOptions};
use mycelium_backtest::data::{self, JournalData, JournalDataError};
use mycelium_backtest::{pipeline, Series, Sweep};
use mycelium_contracts::{Quote, Side, Trade};
use mycelium_journal::{
    ActorAddr, Encoding, Entry, JournalOptions, JournalSchema, JournalWriter, Kind, Recording,
};

/// A market-data actor of a live system: it handles the feed's trades.
#[derive(Clone)]
struct Feed(u64);
actor_from_args!(Feed);

impl Handler<Trade> for Feed {
    type Reply = ();
    async fn handle(&mut self, _trade: Trade, _ctx: &mut Context<Self>) {
        self.0 += 1;
    }
}

/// Asks how many trades the feed has handled (so the test knows the feed is done).
struct Count;

impl Handler<Count> for Feed {
    type Reply = u64;
    async fn handle(&mut self, _: Count, _ctx: &mut Context<Self>) -> u64 {
        self.0
    }
}

fn csv_of(series: &Series) -> String {
    let mut csv = String::from("timestamp_ns,price\n");
    for (t, p) in series.timestamps().iter().zip(series.prices()) {
        csv.push_str(&format!("{t},{p}\n"));
    }
    csv
}

fn trade(ts_ns: u64, instrument: u32, price: f64) -> Trade {
    Trade {
        ts_ns,
        instrument,
        price,
        qty: 1.0,
        aggressor: Side::Buy,
        trade_id: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Records a live run of `feed` trades: the feed actor is recorded, the trades are told.
fn record(dir: &std::path::Path, series: &Series) {
    let journal =
        JournalWriter::open(dir, JournalOptions::new(JournalSchema::none()).node("md")).unwrap();
    let recording = Arc::new(Recording::new(journal.clone()).contract::<Trade>());
    runtime().block_on(async {
        let bus = Bus::new();
        let feed = bus
            .spawn_with::<Feed>(Feed(0), SpawnOptions::new().record(recording.clone()))
            .unwrap();
        for (&t, &p) in series.timestamps().iter().zip(series.prices()) {
            feed.tell(trade(t, 7, p)).await.unwrap();
        }
        assert_eq!(feed.ask(Count).await.unwrap(), series.len() as u64);
    });
    assert_eq!(recording.errors(), 0);
    journal.close().unwrap();
}

fn backtest(series: Series) -> Vec<(pipeline::Params, pipeline::RunResult)> {
    let series = Arc::new(series);
    let grid = pipeline::grid(&[5, 10], &[20, 40], &[0, 5]);
    let report = Sweep::new(grid).workers(1).seed(3).run(|&params, run| {
        let series = series.clone();
        async move { pipeline::run(&run.bus, series, params, pipeline::Config::default()).await }
    });
    assert_eq!(report.failures().count(), 0);
    report.successes().map(|(p, r)| (*p, r.clone())).collect()
}

#[test]
fn a_recorded_feed_backtests_like_the_csv_it_was_fed() {
    let csv = csv_of(&Series::synthetic(11, 3_000));
    let (from_csv, _) = data::parse_csv("ticks.csv", &csv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    record(dir.path(), &from_csv);

    assert!(data::is_journal(dir.path()));
    let loaded = data::load_journal(dir.path(), &JournalData::default()).unwrap();
    assert_eq!(loaded.warnings, Vec::<String>::new());
    assert_eq!(loaded.series.timestamps(), from_csv.timestamps());
    assert_eq!(loaded.series.prices(), from_csv.prices());

    let (a, b) = (backtest(from_csv), backtest(loaded.series));
    assert_eq!(a.len(), 8);
    assert!(a.iter().any(|(_, r)| r.stats.trades > 0));
    for ((pa, ra), (pb, rb)) in a.iter().zip(&b) {
        assert_eq!(pa, pb);
        assert_eq!(ra, rb, "the run of {pa:?} differs");
    }
}

fn writer(dir: &std::path::Path) -> JournalWriter {
    JournalWriter::open(dir, JournalOptions::new(JournalSchema::none())).unwrap()
}

fn quote_body(ts_ns: u64, instrument: u32, bid: f64, ask: f64) -> Vec<u8> {
    let mut body = Vec::new();
    mycelium_codec::WireMessage::encode_body(
        &Quote {
            ts_ns,
            instrument,
            bid_px: bid,
            bid_qty: 1.0,
            ask_px: ask,
            ask_qty: 1.0,
        },
        &mut body,
    );
    body
}

fn append(journal: &JournalWriter, kind: Kind, actor: u64, name: &str, enc: Encoding, body: &[u8]) {
    let type_id = if name == "Quote" && enc == Encoding::Contract {
        100
    } else {
        0
    };
    journal
        .append(&Entry {
            name,
            type_id,
            encoding: enc,
            payload: body,
            ..Entry::new(kind, 1_000, ActorAddr { node: 0, id: actor })
        })
        .unwrap();
}

#[test]
fn quotes_are_read_at_their_mid_and_the_source_must_be_one() {
    let dir = tempfile::tempdir().unwrap();
    let journal = writer(dir.path());
    // Actor 1 handles quotes of instrument 7 and publishes them; actor 2 handles them too.
    for (i, (bid, ask)) in [(99.0, 101.0), (100.0, 102.0), (0.0, 103.0)]
        .iter()
        .enumerate()
    {
        let body = quote_body(1_000 + i as u64, 7, *bid, *ask);
        append(
            &journal,
            Kind::Handled,
            1,
            "Quote",
            Encoding::Contract,
            &body,
        );
        append(
            &journal,
            Kind::Published,
            1,
            "Quote",
            Encoding::Contract,
            &body,
        );
        append(
            &journal,
            Kind::Handled,
            2,
            "Quote",
            Encoding::Contract,
            &body,
        );
    }
    journal.close().unwrap();

    let err = data::load_journal(dir.path(), &JournalData::default()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, JournalDataError::Ambiguous { .. }), "{text}");
    assert!(text.contains("actor 1 handled (3 records)"), "{text}");
    assert!(text.contains("actor 1 published (3 records)"), "{text}");
    assert!(text.contains("--md-actor"), "{text}");

    let choose = JournalData {
        actor: Some(ActorAddr { node: 0, id: 1 }),
        kind: Some(Kind::Published),
        ..JournalData::default()
    };
    let loaded = data::load_journal(dir.path(), &choose).unwrap();
    assert_eq!(loaded.series.prices(), &[100.0, 101.0]);
    assert_eq!(loaded.series.timestamps(), &[1_000, 1_001]);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("empty side"));
}

#[test]
fn json_ticks_several_instruments_and_disorder() {
    let dir = tempfile::tempdir().unwrap();
    let journal = writer(dir.path());
    for (ts, inst, px) in [
        (10u64, 1u32, 5.0),
        (11, 2, 6.0),
        (11, 1, 5.5),
        (12, 1, 5.25),
    ] {
        let body = format!(r#"{{"ts_ns":{ts},"instrument":{inst},"px":{px}}}"#);
        append(
            &journal,
            Kind::Handled,
            4,
            "Tick",
            Encoding::Json,
            body.as_bytes(),
        );
    }
    // A record of a type that is not market data is read past.
    append(&journal, Kind::Handled, 4, "Other", Encoding::Json, b"[]");
    journal.close().unwrap();

    let err = data::load_journal(dir.path(), &JournalData::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("several instruments: 1 (3 records), 2 (1 records)"),
        "{err}"
    );
    let one = JournalData {
        instrument: Some(1),
        ..JournalData::default()
    };
    let loaded = data::load_journal(dir.path(), &one).unwrap();
    assert_eq!(loaded.series.prices(), &[5.0, 5.5, 5.25]);

    let dir = tempfile::tempdir().unwrap();
    let journal = writer(dir.path());
    append(
        &journal,
        Kind::Handled,
        4,
        "Tick",
        Encoding::Json,
        br#"{"ts_ns":20,"price":1.0}"#,
    );
    append(
        &journal,
        Kind::Handled,
        4,
        "Tick",
        Encoding::Json,
        br#"{"ts_ns":20,"price":2.0}"#,
    );
    append(
        &journal,
        Kind::Handled,
        4,
        "Tick",
        Encoding::Json,
        br#"{"ts_ns":19,"price":3.0}"#,
    );
    journal.close().unwrap();
    let err = data::load_journal(dir.path(), &JournalData::default()).unwrap_err();
    assert!(
        matches!(
            err,
            JournalDataError::OutOfOrder {
                seq: 2,
                ts: 19,
                prev: 20,
                ..
            }
        ),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let journal = writer(dir.path());
    append(
        &journal,
        Kind::Handled,
        4,
        "Tick",
        Encoding::Json,
        br#"{"ts_ns":20,"size":1}"#,
    );
    journal.close().unwrap();
    let err = data::load_journal(dir.path(), &JournalData::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("record 0 (Tick): the payload has no price"),
        "{err}"
    );
}

#[test]
fn a_damaged_journal_or_none_is_refused_with_the_journal_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = data::load_journal(dir.path(), &JournalData::default()).unwrap_err();
    assert!(
        err.to_string().contains("holds no journal segment"),
        "{err}"
    );
    assert!(!data::is_journal(dir.path()));

    let journal = writer(dir.path());
    for i in 0..3u64 {
        let body = format!(r#"{{"ts_ns":{i},"price":1.5}}"#);
        append(
            &journal,
            Kind::Handled,
            4,
            "Tick",
            Encoding::Json,
            body.as_bytes(),
        );
    }
    journal.close().unwrap();
    let segment = mycelium_journal::segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();
    let err = data::load_journal(dir.path(), &JournalData::default()).unwrap_err();
    assert!(matches!(err, JournalDataError::Journal(_)), "{err}");
    assert!(
        err.to_string().contains("is corrupt at byte offset"),
        "{err}"
    );
}
