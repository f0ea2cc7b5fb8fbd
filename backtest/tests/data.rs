//! Loading CSV files: good files, and each kind of malformed row with its line number.

use mycelium_backtest::{load_csv, parse_csv, DataError, DataFormat};

fn error(text: &str) -> DataError {
    parse_csv("prices.csv", text).expect_err("the file is malformed")
}

fn assert_rejected(text: &str, line: usize, needle: &str) {
    let e = error(text);
    assert_eq!(e.file, "prices.csv");
    assert_eq!(e.line, line, "{e}");
    assert!(e.what.contains(needle), "`{e}` should mention `{needle}`");
    assert!(
        e.to_string().starts_with(&format!("prices.csv:{line}: ")),
        "{e}"
    );
}

#[test]
fn ticks_with_and_without_volume() {
    let (s, f) = parse_csv("t.csv", "timestamp_ns,price\n1,100.5\n2,101\n5,99.25\n").unwrap();
    assert_eq!(f, DataFormat::Ticks);
    assert_eq!(s.timestamps(), &[1, 2, 5]);
    assert_eq!(s.prices(), &[100.5, 101.0, 99.25]);
    let (s, _) = parse_csv(
        "t.csv",
        "Timestamp_ns, Price, Volume\r\n10,1.5,3\r\n\r\n20,1.75,0\r\n",
    )
    .unwrap();
    assert_eq!(s.prices(), &[1.5, 1.75]);
}

#[test]
fn bars_replay_at_their_close() {
    let text = "timestamp_ns,open,high,low,close,volume\n\
                100,10,12,9,11,1000\n\
                200,11,11.5,10.5,10.75,800\n";
    let (s, f) = parse_csv("b.csv", text).unwrap();
    assert_eq!(f, DataFormat::Bars);
    assert_eq!(s.timestamps(), &[100, 200]);
    assert_eq!(s.prices(), &[11.0, 10.75]);
}

#[test]
fn a_file_on_disk() {
    let path =
        std::env::temp_dir().join(format!("mycelium-backtest-data-{}.csv", std::process::id()));
    std::fs::write(&path, "timestamp_ns,price\n1,2\n3,4\n").unwrap();
    let (s, _) = load_csv(&path).unwrap();
    assert_eq!(s.len(), 2);
    std::fs::remove_file(&path).unwrap();
    let e = load_csv(&path).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e.to_string().contains("cannot read the file"), "{e}");
    assert!(!e.to_string().contains(":0:"), "{e}");
}

#[test]
fn an_empty_file() {
    assert_rejected("", 1, "empty");
    assert_rejected("\n\n", 1, "empty");
}

#[test]
fn a_header_without_rows() {
    assert_rejected("timestamp_ns,price\n", 2, "no data rows");
}

#[test]
fn an_unknown_header() {
    assert_rejected("time,price\n1,2\n", 1, "unknown header");
    assert_rejected("1,100\n2,101\n", 1, "unknown header");
}

#[test]
fn a_bad_number() {
    assert_rejected(
        "timestamp_ns,price\n1,100\n2,10o.5\n",
        3,
        "price `10o.5` is not a number",
    );
    assert_rejected(
        "timestamp_ns,price\n1,100\n2.5,101\n",
        3,
        "timestamp_ns `2.5`",
    );
    assert_rejected("timestamp_ns,price\n-1,100\n", 2, "timestamp_ns `-1`");
}

#[test]
fn a_missing_column() {
    assert_rejected("timestamp_ns,price\n1,100\n2\n", 3, "1 columns, expected 2");
    assert_rejected(
        "timestamp_ns,open,high,low,close\n1,1,2,1,2\n2,1,2,1\n",
        3,
        "4 columns, expected 5",
    );
    assert_rejected("timestamp_ns,price\n1,100,7\n", 2, "3 columns, expected 2");
}

#[test]
fn a_timestamp_that_does_not_increase() {
    assert_rejected(
        "timestamp_ns,price\n1,100\n5,101\n5,102\n",
        4,
        "not after the previous row's 5",
    );
    assert_rejected(
        "timestamp_ns,price\n1,100\n5,101\n\n3,102\n",
        5,
        "strictly increasing",
    );
}

#[test]
fn nan_and_infinity() {
    assert_rejected("timestamp_ns,price\n1,100\n2,NaN\n", 3, "must be finite");
    assert_rejected("timestamp_ns,price\n1,inf\n", 2, "must be finite");
    assert_rejected("timestamp_ns,price,volume\n1,100,nan\n", 2, "volume is nan");
}

#[test]
fn a_negative_or_zero_price() {
    assert_rejected(
        "timestamp_ns,price\n1,100\n2,-3.5\n",
        3,
        "price is -3.5: it must be greater than 0",
    );
    assert_rejected("timestamp_ns,price\n1,0\n", 2, "greater than 0");
    assert_rejected("timestamp_ns,price,volume\n1,100,-1\n", 2, "volume is -1");
}

#[test]
fn an_inconsistent_bar() {
    assert_rejected(
        "timestamp_ns,open,high,low,close\n1,10,12,9,11\n2,10,9,8,9.5\n",
        3,
        "inconsistent bar",
    );
}

mod properties {
    use mycelium_backtest::parse_csv;
    use proptest::prelude::*;

    /// Lines that are often almost right: a header, numbers, stray signs and words.
    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("timestamp_ns,price".to_string()),
            Just("timestamp_ns,open,high,low,close,volume".to_string()),
            (0u64..50, -5.0f64..200.0).prop_map(|(t, p)| format!("{t},{p}")),
            (0u64..50, 1.0f64..200.0, 0.0f64..5.0).prop_map(|(t, p, d)| format!(
                "{t},{p},{},{},{p},7",
                p + d,
                p - d
            )),
            "[0-9a-zA-Z,.\\-+ ]{0,30}",
            Just(String::new()),
        ]
    }

    proptest! {
        /// Whatever the text, the loader answers without panicking; what it accepts is a
        /// valid series, and what it rejects names a line of the file.
        #[test]
        fn never_panics_and_accepts_only_valid_series(lines in proptest::collection::vec(line(), 0..12)) {
            let text = lines.join("\n");
            match parse_csv("p.csv", &text) {
                Ok((s, _)) => {
                    prop_assert!(!s.is_empty());
                    prop_assert!(s.timestamps().windows(2).all(|w| w[0] < w[1]));
                    prop_assert!(s.prices().iter().all(|p| p.is_finite() && *p > 0.0));
                }
                Err(e) => {
                    prop_assert!(e.line >= 1 && e.line <= lines.len().max(1) + 1, "{}", e);
                    prop_assert_eq!(e.file, "p.csv");
                }
            }
        }
    }
}
