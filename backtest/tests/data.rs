//! Loading CSV files: good files, and each kind of malformed row with its line number.

use mycelium_backtest::data::{parse, EpochUnit, LoadOptions};
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
    assert_eq!(s.volumes(), Some(&[3.0, 0.0][..]));
    assert_eq!((s.high(1), s.low(1)), (1.75, 1.75));
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
    // The range and volume are kept: stops and limits trigger on them.
    assert_eq!(
        (s.high(0), s.low(0), s.high(1), s.low(1)),
        (12.0, 9.0, 11.5, 10.5)
    );
    assert_eq!(s.volumes(), Some(&[1000.0, 800.0][..]));
    let (s, _) = parse_csv(
        "b.csv",
        "timestamp_ns,open,high,low,close\n100,10,12,9,11\n",
    )
    .unwrap();
    assert_eq!(s.volumes(), None);
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
    assert_rejected("when,price\n1,2\n", 1, "no time column");
    assert_rejected("1,100\n2,101\n", 1, "no time column");
    assert_rejected("date,volume\n1,2\n", 1, "neither bar columns");
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
        "duplicate rows at lines 3 and 4",
    );
    assert_rejected(
        "timestamp_ns,price\n1,100\n5,101\n\n3,102\n",
        5,
        "sort the file by time",
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

const JAN1: u64 = 1_704_067_200_000_000_000; // 2024-01-01T00:00:00Z
const DAY: u64 = 86_400_000_000_000;

#[test]
fn a_pandas_export_with_dates_in_an_unnamed_first_column() {
    let text = ",Open,High,Low,Close,Volume\n\
                2024-01-01,10,12,9,11,1000\n\
                2024-01-02,11,11.5,10.5,10.75,\n";
    let (s, f) = parse_csv("b.csv", text).unwrap();
    assert_eq!(f, DataFormat::Bars);
    assert_eq!(s.timestamps(), &[JAN1, JAN1 + DAY]);
    assert_eq!(s.opens(), &[10.0, 11.0]);
    assert_eq!(s.prices(), &[11.0, 10.75]);
}

#[test]
fn a_yahoo_file_with_a_bom_and_null_rows() {
    let text = "\u{feff}Date,Open,High,Low,Close,Adj Close,Volume\n\
                2024-01-01,10,12,9,11,10.5,1000\n\
                2024-01-02,null,null,null,null,null,null\n\
                2024-01-03,11,11.5,10.5,10.75,10.2,800\n";
    let loaded = parse("y.csv", text, &LoadOptions::default()).unwrap();
    assert_eq!(loaded.series.timestamps(), &[JAN1, JAN1 + 2 * DAY]);
    assert_eq!(
        loaded.series.prices(),
        &[11.0, 10.75],
        "Close, not Adj Close"
    );
    assert_eq!(loaded.warnings.len(), 1);
    assert!(
        loaded.warnings[0].contains("y.csv:3: skipped 1 row"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn a_yfinance_file_with_its_three_header_lines() {
    let text = "Price,Close,High,Low,Open,Volume\n\
                Ticker,SPY,SPY,SPY,SPY,SPY\n\
                Date,,,,,\n\
                2024-01-01,11,12,9,10,1000\n\
                2024-01-02,10.75,11.5,10.5,11,800\n";
    let (s, f) = parse_csv("yf.csv", text).unwrap();
    assert_eq!(f, DataFormat::Bars);
    assert_eq!(s.timestamps(), &[JAN1, JAN1 + DAY]);
    assert_eq!(s.opens(), &[10.0, 11.0]);
    assert_eq!(s.prices(), &[11.0, 10.75]);
}

#[test]
fn iso_date_times_with_and_without_offsets() {
    let text = "DateTime,Price\n\
                2024-01-01 00:00:00,1\n\
                2024-01-01T01:00:00+01:00,2\n\
                2024-01-01T00:30:00.25Z,3\n\
                2024-01-01T01:00:00-00:00,4\n";
    let err = parse_csv("t.csv", text).unwrap_err();
    // 01:00+01:00 is midnight UTC again: a duplicate of line 2.
    assert_eq!(err.line, 3);
    assert!(
        err.what.contains("duplicate rows at lines 2 and 3"),
        "{err}"
    );
    let text = "datetime,price\n2024-01-01 00:00:00,1\n2024-01-01T00:30:00.25Z,3\n2024-01-01T02:00:00+01:00,4\n";
    let (s, _) = parse_csv("t.csv", text).unwrap();
    let h = 3_600_000_000_000;
    assert_eq!(
        s.timestamps(),
        &[JAN1, JAN1 + h / 2 + 250_000_000, JAN1 + h]
    );
}

#[test]
fn a_fixed_offset_is_the_local_time_and_a_changing_one_means_utc() {
    let fixed = "Date,Close\n2024-01-01T00:00:00+09:00,1\n2024-01-02T00:00:00+09:00,2\n";
    let loaded = parse("f.csv", fixed, &LoadOptions::default()).unwrap();
    assert_eq!(loaded.series.utc_offset_ns(), 9 * 3_600_000_000_000);
    assert_eq!(loaded.series.timestamps()[0], JAN1 - 9 * 3_600_000_000_000);
    assert!(loaded.warnings.is_empty());
    let dst = "Date,Close\n2024-03-08T15:00:00-05:00,1\n2024-03-11T09:30:00-04:00,2\n";
    let loaded = parse("d.csv", dst, &LoadOptions::default()).unwrap();
    assert_eq!(loaded.series.utc_offset_ns(), 0);
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].starts_with("d.csv:3: the times change their UTC offset"));
}

#[test]
fn separate_date_and_time_columns() {
    let text = "Date,Time,Open,High,Low,Close,Volume\n2024.01.01,00:00,10,12,9,11,5\n2024.01.01,00:05,11,12,9,10,5\n";
    let (s, _) = parse_csv("mt.csv", text).unwrap();
    assert_eq!(s.timestamps(), &[JAN1, JAN1 + 300_000_000_000]);
    assert_rejected(
        "Date,Time,Close\n2024.01.01,00:00,1\n2024.01.01,25:00,2\n",
        3,
        "`2024.01.01 25:00`",
    );
}

#[test]
fn binance_klines_without_a_header() {
    let text = "1704067200000,42283.58,42554.57,42261.02,42475.23,1271.68,1704070799999,5.4e7,47134,682.3,2.9e7,0\n\
                1704070800000,42475.23,42775.00,42431.65,42613.56,1196.37,1704074399999,5.1e7,45970,621.5,2.6e7,0\n";
    let loaded = parse("k.csv", text, &LoadOptions::default()).unwrap();
    assert_eq!(loaded.format, DataFormat::Bars);
    assert_eq!(
        loaded.series.timestamps(),
        &[JAN1, JAN1 + 3_600_000_000_000]
    );
    assert_eq!(loaded.series.prices(), &[42475.23, 42613.56]);
    assert!(
        loaded.warnings[0].starts_with("k.csv:1: no header"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn epoch_numbers_in_every_unit() {
    for (values, unit) in [
        (["1704067200", "1704067260"], EpochUnit::Seconds),
        (["1704067200000", "1704067260000"], EpochUnit::Millis),
        (["1704067200000000", "1704067260000000"], EpochUnit::Micros),
        (
            ["1704067200000000000", "1704067260000000000"],
            EpochUnit::Nanos,
        ),
    ] {
        let text = format!("time,price\n{},1\n{},2\n", values[0], values[1]);
        let (s, _) = parse_csv("t.csv", &text).unwrap();
        assert_eq!(
            s.timestamps(),
            &[JAN1, JAN1 + 60_000_000_000],
            "{unit:?} detected"
        );
        let given = LoadOptions {
            epoch_unit: Some(unit),
        };
        assert_eq!(parse("t.csv", &text, &given).unwrap().series, s);
    }
    // Given a unit, small numbers are taken in it.
    let ms = LoadOptions {
        epoch_unit: Some(EpochUnit::Millis),
    };
    let s = parse("t.csv", "time,price\n1000,1\n2000,2\n", &ms)
        .unwrap()
        .series;
    assert_eq!(s.timestamps(), &[1_000_000_000, 2_000_000_000]);
    assert_rejected("time,price\n1,1\n99999999999999999999999,2\n", 3, "time");
    // Too large, not "not a whole number of Nanos".
    assert_rejected(
        "time,price\n99999999999999999999999,1\n",
        2,
        "out of range for a time in Nanos",
    );
    assert_rejected(
        "time,price\n1704067200000000.5,1\n",
        2,
        "not a whole number of Micros",
    );
}

#[test]
fn a_time_outside_the_span_of_a_series_says_so() {
    // Yahoo's S&P 500 starts in 1927: not "not a time".
    for (text, line) in [
        ("Date,Close\n1927-12-30,17.66\n", 2),
        ("Date,Close\n2024-01-01,1\n9999-12-31,2\n", 3),
        ("Date,Close\n1970-01-01T00:30:00+01:00,1\n", 2),
        ("Date,Close\n2262-04-12,1\n", 2),
    ] {
        assert_rejected(text, line, "outside the times a series can hold");
    }
    // An impossible date is still not a time, whatever its year.
    assert_rejected("Date,Close\n1900-02-29,1\n", 2, "not a time");
    assert_rejected("Date,Close\n2024-02-30,1\n", 2, "not a time");
}

#[test]
fn unsorted_date_and_time_columns_show_the_whole_time() {
    assert_rejected(
        "Date,Time,Close\n2024.01.02,09:31,1\n2024.01.02,09:30,2\n",
        3,
        "time `2024.01.02 09:30` is before the time on line 2 (`2024.01.02 09:31`)",
    );
    assert_rejected(
        "Date,Time,Close\n2024.01.02,09:30,1\n2024.01.02,09:30,2\n",
        3,
        "time `2024.01.02 09:30` is the same as on line 2",
    );
}

#[test]
fn a_file_of_several_tickers_is_refused() {
    // yfinance's download of two tickers: not a backtest of the first one without a word.
    assert_rejected(
        "Price,Close,Close,High,High,Low,Low,Open,Open,Volume,Volume\n\
         Ticker,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT\n\
         Date,,,,,,,,,,\n\
         2024-01-02,185.6,370.9,188.4,375.9,183.9,366.5,187.2,373.9,82488700,25258600\n",
        1,
        "more than one `open` column (a download of several tickers?)",
    );
    assert_rejected(
        "Date,Price,Price\n2024-01-02,1,2\n",
        1,
        "more than one `price` column",
    );
}

#[test]
fn a_repeated_time_column_is_refused() {
    assert_rejected(
        "Date,Open,High,Low,Close,Date\n2024-01-02,1,2,0.5,1.5,2024-01-03\n",
        1,
        "more than one `date` column",
    );
    assert_rejected(
        "timestamp_ns,price,timestamp_ns\n1,1,2\n",
        1,
        "more than one `timestamp_ns` column",
    );
    // A date and a time of day: each may appear once.
    assert_rejected(
        "Date,Time,Close,Time\n2024.01.02,09:30,1,09:31\n",
        1,
        "more than one `time` column",
    );
    // Unnamed columns (a pandas index, a trailing comma) are not time columns twice over.
    let (series, _) = parse_csv("prices.csv", ",Close,\n2024-01-02,1,\n2024-01-03,2,\n").unwrap();
    assert_eq!(series.len(), 2);
}

#[test]
fn other_separators_are_named() {
    // Not "no time column ... name it `Date`" for a header that has a `Date`.
    assert_rejected(
        "Date;Open;High;Low;Close\n2024-01-01;1;2;0.5;1.5\n",
        1,
        "separates its columns with semicolons, not commas",
    );
    assert_rejected(
        "\n\nDate\tClose\n2024-01-01\t1\n",
        3,
        "separates its columns with tabs, not commas",
    );
}

#[test]
fn classic_mac_line_ends() {
    // `\r` alone, as Excel's "CSV (Macintosh)" writes: one line each, not one long header.
    let text = "Date,Close\r2024-01-01,1\r2024-01-02,2\r";
    let loaded = parse("m.csv", text, &LoadOptions::default()).unwrap();
    assert_eq!(loaded.series.prices(), &[1.0, 2.0]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // Lines are still counted, and a cut last line is still flagged.
    let e = parse_csv("m.csv", "Date,Close\r2024-01-01,1\r2024-01-00,2\r").unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    let cut = parse(
        "m.csv",
        "Date,Close\r2024-01-01,1.25\r2024-01-02,1.5",
        &LoadOptions::default(),
    )
    .unwrap();
    assert!(
        cut.warnings[0].starts_with("m.csv:3: the last line has no line end"),
        "{:?}",
        cut.warnings
    );
}

#[test]
fn compact_dates_are_dates_not_seconds() {
    // `20240101` read as seconds since 1970 would be a series one second a row in August
    // 1970, and daily statistics without a single day's return.
    let text = "Date,Close\n20240101,1\n20240102,2\n20240103,3\n";
    let (s, _) = parse_csv("d.csv", text).unwrap();
    const DAY: u64 = 86_400_000_000_000;
    assert_eq!(s.timestamps(), &[JAN1, JAN1 + DAY, JAN1 + 2 * DAY]);
    // A unit given, or fixed by an earlier epoch number, still reads them as numbers.
    let given = LoadOptions {
        epoch_unit: Some(EpochUnit::Seconds),
    };
    let s = parse("d.csv", text, &given).unwrap().series;
    assert_eq!(s.timestamps()[0], 20_240_101_000_000_000);
    let s = parse_csv("d.csv", "time,price\n9999999,1\n20240101,2\n")
        .unwrap()
        .0;
    assert_eq!(
        s.timestamps(),
        &[9_999_999_000_000_000, 20_240_101_000_000_000]
    );
    // Not a date (month 13): a number of seconds, as before.
    let s = parse_csv("d.csv", "time,price\n20241301,1\n").unwrap().0;
    assert_eq!(s.timestamps(), &[20_241_301_000_000_000]);
}

#[test]
fn a_cut_last_line_is_flagged() {
    let text = "Date,Open,High,Low,Close\n2024-01-01,10.25,12.5,9.75,11.125\n2024-01-02,11.5,11.75,10.5,10.7";
    let loaded = parse("c.csv", text, &LoadOptions::default()).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].starts_with("c.csv:3: the last line has no line end"));
    assert!(loaded.warnings[0].contains("cut short"));
    // A volume cut short: two digits fewer than the line before.
    let text =
        "Date,Open,High,Low,Close,Volume\n2024-01-01,10,12,9,11,748507\n2024-01-02,11,12,9,11,7485";
    let loaded = parse("v.csv", text, &LoadOptions::default()).unwrap();
    assert!(
        loaded.warnings[0].contains("its volume `7485`"),
        "{:?}",
        loaded.warnings
    );
    let text = "Date,Open,High,Low,Close,Volume\n2024-01-01,10,12,9,11,748507\n2024-01-02,11,12,9,11,98507";
    assert!(parse("v.csv", text, &LoadOptions::default())
        .unwrap()
        .warnings
        .is_empty());
    // The same with a line end is fine.
    let whole = parse("c.csv", &format!("{text}\n"), &LoadOptions::default()).unwrap();
    assert!(whole.warnings.is_empty());
    // A last line cut inside its columns is an error that says so.
    assert_rejected(
        "Date,Open,High,Low,Close\n2024-01-01,10,12,9,11\n2024-01-02,11,11",
        3,
        "probably cut short",
    );
}

#[test]
fn unsorted_and_bad_times_say_what_to_do() {
    assert_rejected(
        "Date,Close\n2024-01-02,1\n2024-01-01,2\n",
        3,
        "sort the file by time, oldest first",
    );
    assert_rejected("Date,Close\n2024-01-01,1\n2024-13-01,2\n", 3, "ISO-8601");
    assert_rejected("Date,Close\n2024-01-01,1\n,2\n", 3, "empty time");
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
            Just(",Open,High,Low,Close,Volume".to_string()),
            Just("\u{feff}Date,Open,High,Low,Close,Adj Close,Volume".to_string()),
            Just("Date,Close".to_string()),
            (
                2000i32..2030,
                0u32..14,
                0u32..33,
                1.0f64..200.0,
                0.0f64..5.0
            )
                .prop_map(|(y, m, d, p, s)| format!(
                    "{y}-{m:02}-{d:02},{p},{},{},{p},{},null",
                    p + s,
                    p - s,
                    p
                )),
            (
                2000i32..2030,
                1u32..13,
                1u32..29,
                0u32..24,
                -14i32..15,
                1.0f64..99.0
            )
                .prop_map(|(y, m, d, h, o, p)| format!(
                    "{y}-{m:02}-{d:02}T{h:02}:00:00{o:+03}:00,{p}"
                )),
            (1u64..u64::MAX).prop_map(|t| format!("{t},5")),
            Just("2024-01-01,null,null,null,null,null,null".to_string()),
        ]
    }

    proptest! {
        /// Whatever the text, the loader answers without panicking; what it accepts is a
        /// valid series, and what it rejects names a line of the file.
        #[test]
        fn never_panics_and_accepts_only_valid_series(lines in proptest::collection::vec(line(), 0..12)) {
            let text = lines.join("\n");
            if let Ok(loaded) = mycelium_backtest::data::parse("p.csv", &text, &Default::default()) {
                prop_assert!(loaded.series.opens().iter().all(|p| p.is_finite() && *p > 0.0));
                prop_assert!(loaded.warnings.iter().all(|w| w.starts_with("p.csv:")));
            }
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
