//! PNG line charts of an equity curve, drawn with a small rasteriser; text is set in the
//! public-domain 8x8 bitmap font of the `font8x8` crate.

use std::io::Write;

/// The largest width or height a chart may have, in pixels: its canvas is allocated whole
/// (3 bytes a pixel, 192 MiB at this size on both sides).
pub const MAX_SIDE: u32 = 8192;

/// Refuses a chart larger than [`MAX_SIDE`] on either side, before anything is allocated.
fn check_size(width: u32, height: u32) -> Result<(), png::EncodingError> {
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(png::EncodingError::IoError(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "a chart of {width} x {height} pixels is too large: at most {MAX_SIDE} pixels a \
                 side"
            ),
        )));
    }
    Ok(())
}

/// Draws `values` as a line chart of `width` x `height` pixels and writes it as a PNG:
/// white background, a light frame, a grey line at the first value (the starting capital),
/// light grid lines at the quarters, and the curve in blue. Values are scaled to fill the
/// height; an empty or constant series gives a flat line. Sizes below 32 pixels are raised to
/// 32; above [`MAX_SIDE`] they are refused (an `InvalidInput` I/O error, nothing written).
///
/// ```
/// let mut png = Vec::new();
/// mycelium_backtest::plot::equity_png(&[100.0, 101.0, 99.5, 103.0], 200, 100, &mut png).unwrap();
/// assert_eq!(&png[1..4], b"PNG");
/// ```
pub fn equity_png(
    values: &[f64],
    width: u32,
    height: u32,
    out: impl Write,
) -> Result<(), png::EncodingError> {
    check_size(width, height)?;
    // The frame sits 8 pixels in from each edge: a smaller image has no inside.
    let (w, h) = (width.max(32) as usize, height.max(32) as usize);
    let mut canvas = Canvas {
        w,
        h,
        px: vec![255; w * h * 3],
    };
    let margin = 8usize;
    let (x0, x1, y0, y1) = (margin, w - 1 - margin, margin, h - 1 - margin);
    let grid = [235, 235, 235];
    for q in 1..4 {
        let y = y0 + (y1 - y0) * q / 4;
        canvas.line(x0 as f64, y as f64, x1 as f64, y as f64, grid);
        let x = x0 + (x1 - x0) * q / 4;
        canvas.line(x as f64, y0 as f64, x as f64, y1 as f64, grid);
    }
    let frame = [190, 190, 190];
    canvas.line(x0 as f64, y0 as f64, x1 as f64, y0 as f64, frame);
    canvas.line(x0 as f64, y1 as f64, x1 as f64, y1 as f64, frame);
    canvas.line(x0 as f64, y0 as f64, x0 as f64, y1 as f64, frame);
    canvas.line(x1 as f64, y0 as f64, x1 as f64, y1 as f64, frame);
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if !finite.is_empty() {
        let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let span = if hi > lo { hi - lo } else { 1.0 };
        let sx =
            |i: usize| x0 as f64 + (x1 - x0) as f64 * i as f64 / (finite.len() - 1).max(1) as f64;
        let sy = |v: f64| y1 as f64 - (y1 - y0) as f64 * (v - lo) / span;
        let base = sy(finite[0]);
        canvas.line(x0 as f64, base, x1 as f64, base, [150, 150, 150]);
        let blue = [31, 90, 200];
        if finite.len() == 1 {
            canvas.line(x0 as f64, base, x1 as f64, base, blue);
        }
        for i in 1..finite.len() {
            canvas.line(sx(i - 1), sy(finite[i - 1]), sx(i), sy(finite[i]), blue);
            // A second pass one pixel lower makes the line readable at any size.
            canvas.line(
                sx(i - 1),
                sy(finite[i - 1]) + 1.0,
                sx(i),
                sy(finite[i]) + 1.0,
                blue,
            );
        }
    }
    let mut encoder = png::Encoder::new(out, w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&canvas.px)?;
    writer.finish()
}

/// Draws an equity curve of `(timestamp_ns, equity)` points as a `width` x `height` PNG
/// with a title, a y axis of equity values and an x axis of dates (UTC), grid lines at the
/// ticks, and the curve in blue. Points need not be evenly spaced in time. Sizes below 200 x
/// 120 pixels are raised to that; above [`MAX_SIDE`] they are refused (an `InvalidInput` I/O
/// error, nothing written).
///
/// ```
/// let day = 86_400_000_000_000u64;
/// let curve: Vec<(u64, f64)> = (0..30).map(|i| (19_700 * day + i * day, 10_000.0 + i as f64)).collect();
/// let mut png = Vec::new();
/// mycelium_backtest::plot::equity_chart_png(&curve, "Equity", 600, 300, &mut png).unwrap();
/// assert_eq!(&png[1..4], b"PNG");
/// ```
pub fn equity_chart_png(
    points: &[(u64, f64)],
    title: &str,
    width: u32,
    height: u32,
    out: impl Write,
) -> Result<(), png::EncodingError> {
    check_size(width, height)?;
    let (w, h) = (width.max(200) as usize, height.max(120) as usize);
    let mut c = Canvas {
        w,
        h,
        px: vec![255; w * h * 3],
    };
    let black = [30, 30, 30];
    let (x0, x1, y0, y1) = (90usize, w - 20, 30usize, h - 40);
    c.text(
        title,
        (w as i64 - 8 * title.chars().count() as i64) / 2,
        8,
        black,
    );
    let finite: Vec<(u64, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    let frame = [150, 150, 150];
    if let (Some(first), Some(last)) = (finite.first(), finite.last()) {
        let lo = finite.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let mut hi = finite.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        if hi <= lo {
            hi = lo + lo.abs().max(1.0) * 0.01;
        }
        let (t0, t1) = (first.0, last.0);
        let sx = |t: u64| x0 as f64 + (x1 - x0) as f64 * (t - t0) as f64 / (t1 - t0).max(1) as f64;
        let sy = |v: f64| y1 as f64 - (y1 - y0) as f64 * (v - lo) / (hi - lo);
        for v in crate::report::nice_ticks(lo, hi, 5) {
            let y = sy(v);
            c.line(x0 as f64, y, x1 as f64, y, [232, 232, 232]);
            let label = if (hi - lo) < 10.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.0}")
            };
            c.text(
                &label,
                x0 as i64 - 6 - 8 * label.len() as i64,
                y as i64 - 4,
                black,
            );
        }
        let n = 4u64;
        for k in 0..=n {
            let t = t0 + (t1 - t0) / n * k;
            let x = sx(t);
            c.line(x, y0 as f64, x, y1 as f64, [240, 240, 240]);
            let label = crate::report::date(t);
            let lx =
                (x as i64 - 4 * label.len() as i64).clamp(0, w as i64 - 8 * label.len() as i64);
            c.text(&label, lx, y1 as i64 + 8, black);
        }
        let blue = [31, 90, 200];
        for pair in finite.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            c.line(sx(a.0), sy(a.1), sx(b.0), sy(b.1), blue);
            c.line(sx(a.0), sy(a.1) + 1.0, sx(b.0), sy(b.1) + 1.0, blue);
        }
        if finite.len() == 1 {
            c.line(x0 as f64, sy(first.1), x1 as f64, sy(first.1), blue);
        }
    } else {
        c.text(
            "no data",
            (x0 + x1) as i64 / 2 - 28,
            (y0 + y1) as i64 / 2,
            black,
        );
    }
    c.line(x0 as f64, y0 as f64, x1 as f64, y0 as f64, frame);
    c.line(x0 as f64, y1 as f64, x1 as f64, y1 as f64, frame);
    c.line(x0 as f64, y0 as f64, x0 as f64, y1 as f64, frame);
    c.line(x1 as f64, y0 as f64, x1 as f64, y1 as f64, frame);
    c.text(
        "date (UTC)",
        (x0 + x1) as i64 / 2 - 40,
        h as i64 - 14,
        [90, 90, 90],
    );
    c.text("equity", 4, y0 as i64 - 14, [90, 90, 90]);
    let mut encoder = png::Encoder::new(out, w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&c.px)?;
    writer.finish()
}

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn set(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            return;
        }
        let i = (y as usize * self.w + x as usize) * 3;
        self.px[i..i + 3].copy_from_slice(&rgb);
    }

    /// Sets `text` at (x, y), its top left corner, 8 pixels a character.
    fn text(&mut self, text: &str, x: i64, y: i64, rgb: [u8; 3]) {
        for (k, ch) in text.chars().enumerate() {
            let glyph = font8x8::legacy::BASIC_LEGACY
                .get(ch as usize)
                .copied()
                .unwrap_or(font8x8::legacy::BASIC_LEGACY[b'?' as usize]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        self.set(x + 8 * k as i64 + col, y + row as i64, rgb);
                    }
                }
            }
        }
    }

    /// Bresenham between the rounded end points.
    fn line(&mut self, xa: f64, ya: f64, xb: f64, yb: f64, rgb: [u8; 3]) {
        let (mut x, mut y) = (xa.round() as i64, ya.round() as i64);
        let (xe, ye) = (xb.round() as i64, yb.round() as i64);
        let (dx, dy) = ((xe - x).abs(), -(ye - y).abs());
        let (sx, sy) = (if x < xe { 1 } else { -1 }, if y < ye { 1 } else { -1 });
        let mut err = dx + dy;
        loop {
            self.set(x, y, rgb);
            if x == xe && y == ye {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }
}
