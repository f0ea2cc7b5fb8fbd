//! A PNG line chart of an equity curve, drawn with a small rasteriser (no fonts).

use std::io::Write;

/// Draws `values` as a line chart of `width` x `height` pixels and writes it as a PNG:
/// white background, a light frame, a grey line at the first value (the starting capital),
/// light grid lines at the quarters, and the curve in blue. Values are scaled to fill the
/// height; an empty or constant series gives a flat line.
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
    let (w, h) = (width.max(16) as usize, height.max(16) as usize);
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
