//! Writes sample frames of every message, as a seed corpus for the fuzzer:
//! `MYCELIUM_SEED_DIR=fuzz/corpus/decode_frame cargo test -p mycelium-contracts --test seed_corpus -- --ignored`.

use mycelium_contracts::*;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

mod strategies {
    #![allow(dead_code, clippy::all)]
    use mycelium_contracts::*;
    include!(concat!(env!("OUT_DIR"), "/contracts_strategies.rs"));
}

#[test]
#[ignore = "writes files; run by hand to refresh the fuzz seed corpus"]
fn write_seed_corpus() {
    let Some(dir) = std::env::var_os("MYCELIUM_SEED_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("create the seed directory");
    let mut runner = TestRunner::deterministic();
    let mut n = 0;
    for i in 0..4 {
        let msgs = vec![
            AnyMessage::Quote(
                strategies::arb_quote()
                    .new_tree(&mut runner)
                    .unwrap()
                    .current(),
            ),
            AnyMessage::BookSnapshot(
                strategies::arb_book_snapshot()
                    .new_tree(&mut runner)
                    .unwrap()
                    .current(),
            ),
            AnyMessage::Trade(
                strategies::arb_trade()
                    .new_tree(&mut runner)
                    .unwrap()
                    .current(),
            ),
            AnyMessage::NewOrder(
                strategies::arb_new_order()
                    .new_tree(&mut runner)
                    .unwrap()
                    .current(),
            ),
            AnyMessage::CancelOrder(
                strategies::arb_cancel_order()
                    .new_tree(&mut runner)
                    .unwrap()
                    .current(),
            ),
            AnyMessage::OrderAck(
                strategies::arb_order_ack()
                    .new_tree(&mut runner)
                    .unwrap()
                    .current(),
            ),
            AnyMessage::OrderFill(
                strategies::arb_order_fill()
                    .new_tree(&mut runner)
                    .unwrap()
                    .current(),
            ),
            AnyMessage::OrderReject(
                strategies::arb_order_reject()
                    .new_tree(&mut runner)
                    .unwrap()
                    .current(),
            ),
            AnyMessage::Heartbeat(
                strategies::arb_heartbeat()
                    .new_tree(&mut runner)
                    .unwrap()
                    .current(),
            ),
            AnyMessage::Telemetry(
                strategies::arb_telemetry()
                    .new_tree(&mut runner)
                    .unwrap()
                    .current(),
            ),
        ];
        for m in msgs {
            let mut buf = Vec::new();
            m.encode_frame(i, i, &mut buf);
            std::fs::write(dir.join(format!("seed-{n:03}")), &buf).expect("write a seed");
            n += 1;
        }
    }
}
