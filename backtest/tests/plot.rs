//! The equity PNG decodes, has the asked size, and draws the curve.

use mycelium_backtest::plot::equity_png;

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
