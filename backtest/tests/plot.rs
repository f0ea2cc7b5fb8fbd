//! The equity PNG decodes, has the asked size, and draws the curve.

use mycelium_backtest::plot::{equity_chart_png, equity_png};

fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader.next_frame(&mut buf).expect("one frame");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn a_curve_is_drawn_in_blue_on_white() {
    let curve: Vec<f64> = (0..500)
        .map(|i| 100.0 + (i as f64 / 30.0).sin() * 5.0)
        .collect();
    let mut bytes = Vec::new();
    equity_png(&curve, 400, 200, &mut bytes).unwrap();
    let (w, h, px) = decode(&bytes);
    assert_eq!((w, h), (400, 200));
    let blue = px.chunks(3).filter(|p| p == &[31, 90, 200]).count();
    let white = px.chunks(3).filter(|p| p == &[255, 255, 255]).count();
    assert!(blue > 400, "{blue} blue pixels");
    assert!(white > (w * h) as usize / 2);
}

#[test]
fn degenerate_curves_still_make_an_image() {
    for curve in [vec![], vec![1.0], vec![5.0; 10], vec![f64::NAN, 1.0, 2.0]] {
        let mut bytes = Vec::new();
        equity_png(&curve, 64, 32, &mut bytes).unwrap();
        assert_eq!(decode(&bytes).0, 64);
    }
}

#[test]
fn the_chart_has_a_title_axes_and_labels() {
    let day = 86_400_000_000_000u64;
    let curve: Vec<(u64, f64)> = (0..300)
        .map(|i| {
            (
                19_723 * day + i * day,
                10_000.0 + (i as f64 / 20.0).sin() * 500.0,
            )
        })
        .collect();
    let mut bytes = Vec::new();
    equity_chart_png(&curve, "Equity of a test", 800, 360, &mut bytes).unwrap();
    let (w, h, px) = decode(&bytes);
    assert_eq!((w, h), (800, 360));
    let dark = |x: usize, y: usize| {
        let i = (y * w as usize + x) * 3;
        px[i] < 100 && px[i + 1] < 100 && px[i + 2] < 100
    };
    // Text: the title at the top, the values left of the axis, the dates below it.
    let count = |xs: std::ops::Range<usize>, ys: std::ops::Range<usize>| {
        ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
            .filter(|&(x, y)| dark(x, y))
            .count()
    };
    assert!(count(200..600, 0..24) > 50, "a title");
    assert!(count(0..88, 30..320) > 100, "y axis values");
    assert!(count(90..780, 322..345) > 100, "dates on the x axis");
    let blue = px.chunks(3).filter(|p| p == &[31, 90, 200]).count();
    assert!(blue > 600, "the curve: {blue} pixels");
    for curve in [vec![], vec![(0u64, 1.0)], vec![(0, f64::NAN), (day, 2.0)]] {
        let mut bytes = Vec::new();
        equity_chart_png(&curve, "t", 300, 150, &mut bytes).unwrap();
        assert_eq!(decode(&bytes).0, 300);
    }
}

#[test]
fn report_dates_and_axis_ticks() {
    use mycelium_backtest::report::{date, date_time, nice_ticks};
    let jan1 = 1_704_067_200_000_000_000u64;
    assert_eq!(date(jan1), "2024-01-01");
    assert_eq!(date_time(jan1), "2024-01-01");
    assert_eq!(date_time(jan1 + 3_723_000_000_000), "2024-01-01 01:02:03");
    assert_eq!(
        nice_ticks(0.0, 10.0, 5),
        vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    );
    assert_eq!(
        nice_ticks(9_870.0, 10_130.0, 5),
        vec![9_900.0, 10_000.0, 10_100.0]
    );
    assert!(nice_ticks(f64::NAN, 1.0, 5).is_empty());
}

#[test]
fn a_chart_larger_than_the_limit_is_refused_before_anything_is_drawn() {
    use mycelium_backtest::plot::MAX_SIDE;
    let curve = [100.0, 101.0];
    let points = [(0u64, 100.0), (1, 101.0)];
    for (width, height) in [
        (u32::MAX, u32::MAX),
        (MAX_SIDE + 1, 100),
        (100, MAX_SIDE + 1),
    ] {
        let mut bytes = Vec::new();
        let err = equity_png(&curve, width, height, &mut bytes).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("too large") && text.contains("8192"),
            "{text}"
        );
        assert!(bytes.is_empty());
        let err = equity_chart_png(&points, "t", width, height, &mut bytes).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        assert!(bytes.is_empty());
    }
    // The limit itself is allowed (a thin chart, to keep the test small).
    let mut bytes = Vec::new();
    equity_png(&curve, MAX_SIDE, 1, &mut bytes).unwrap();
    assert_eq!(decode(&bytes).0, MAX_SIDE);
}

#[test]
fn the_smallest_sizes_are_raised_to_a_chart_with_an_inside() {
    let curve = [100.0, 101.0, 99.0];
    let points = [(0u64, 100.0), (86_400_000_000_000, 101.0)];
    for (width, height) in [(0, 0), (1, 1), (16, 16), (17, 40), (40, 17)] {
        let mut bytes = Vec::new();
        equity_png(&curve, width, height, &mut bytes).unwrap();
        let (w, h, _) = decode(&bytes);
        assert_eq!((w, h), (width.max(32), height.max(32)));
        let mut bytes = Vec::new();
        equity_chart_png(&points, "t", width, height, &mut bytes).unwrap();
        assert_eq!(decode(&bytes).0, 200);
    }
}
