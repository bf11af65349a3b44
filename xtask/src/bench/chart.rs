//! The bench chart: horizontal bars, one panel per metric, ours in blue and
//! the kernel's path in orange, drawn into an RGB canvas and encoded by
//! [`super::png`].

use super::font;
use super::{BenchRun, TX_SIZES};

const OURS: [u8; 3] = [46, 98, 168];
const KERNEL: [u8; 3] = [222, 120, 30];
const INK: [u8; 3] = [20, 20, 20];
const GREY: [u8; 3] = [120, 120, 120];

/// An RGB raster.
pub struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(width: usize, height: usize) -> Canvas {
        Canvas {
            width,
            height,
            rgb: vec![255; width * height * 3],
        }
    }

    /// Fills a rectangle, clipped to the canvas.
    pub fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, color: [u8; 3]) {
        for yy in y..(y + h).min(self.height) {
            for xx in x..(x + w).min(self.width) {
                let i = (yy * self.width + xx) * 3;
                self.rgb[i..i + 3].copy_from_slice(&color);
            }
        }
    }

    /// Draws `text` with its top left corner at (x, y), each font pixel
    /// `scale` pixels wide; returns the x after the text.
    pub fn text(&mut self, x: usize, y: usize, scale: usize, color: [u8; 3], text: &str) -> usize {
        let mut cx = x;
        for c in text.chars() {
            for (row, bits) in font::glyph(c).iter().enumerate() {
                for (col, b) in bits.bytes().enumerate() {
                    if b == b'#' {
                        self.fill(cx + col * scale, y + row * scale, scale, scale, color);
                    }
                }
            }
            cx += (font::WIDTH + 1) * scale;
        }
        cx
    }

    /// The PNG file.
    pub fn png(&self) -> Vec<u8> {
        super::png::encode_rgb(self.width as u32, self.height as u32, &self.rgb)
    }
}

/// One bar: label, value (`None`: not measured), ours or the kernel's.
struct Bar {
    label: String,
    value: Option<f64>,
    ours: bool,
}

/// A panel: title and bars (bars of one model are grouped by the caller).
struct Panel {
    title: String,
    bars: Vec<Bar>,
    /// Unit suffix after values (e.g. `US`).
    unit: &'static str,
}

/// `1234567.0` → `1.23M`, `45678.0` → `45.7K`.
pub fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}K", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.2}K", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn panels(run: &BenchRun) -> Vec<Panel> {
    let mut out = Vec::new();
    for (k, size) in TX_SIZES.iter().enumerate() {
        let mut bars = Vec::new();
        for m in &run.models {
            let get =
                |v: &[super::measure::TxCount]| v.iter().find(|t| t.size == *size).map(|t| t.fps);
            bars.push(Bar {
                label: format!("{} E1000 SEND", m.model),
                value: get(&m.tx_ours),
                ours: true,
            });
            bars.push(Bar {
                label: format!("{} PKTGEN", m.model),
                value: get(&m.tx_kernel),
                ours: false,
            });
        }
        out.push(Panel {
            title: format!(
                "TX {}-BYTE FRAMES PER SECOND, COUNTED AT THE HOST PEER",
                [64, 1518][k]
            ),
            bars,
            unit: "",
        });
    }
    let mut echo = Vec::new();
    let mut lat = Vec::new();
    for m in &run.models {
        for e in &m.echo {
            let ours = e.mode != "kernel";
            let label = if ours {
                // "msix --busy-poll 0" is too long for the label column.
                format!(
                    "{} {}",
                    m.model,
                    e.mode.replace(" --busy-poll 0", " NO-BUSY")
                )
            } else {
                format!("{} KERNEL+AF_PACKET", m.model)
            };
            echo.push(Bar {
                label: label.clone(),
                value: e.lossless().map(|v| v as f64),
                ours,
            });
            lat.push(Bar {
                label,
                value: e.ping.map(|p| p.0),
                ours,
            });
        }
    }
    out.push(Panel {
        title: "HIGHEST LOSSLESS ECHO RATE, 64-BYTE FRAMES PER SECOND".into(),
        bars: echo,
        unit: "",
    });
    out.push(Panel {
        title: "PING-PONG ROUND TRIP P50, MICROSECONDS (SHORTER IS BETTER)".into(),
        bars: lat,
        unit: " US",
    });
    out
}

/// Draws the chart of `run` and returns the PNG file.
pub fn render(run: &BenchRun) -> Vec<u8> {
    const W: usize = 1000;
    const LABEL: usize = 300;
    const ROW: usize = 20;
    const BAR_MAX: usize = W - LABEL - 110;
    let panels = panels(run);
    let height = 70
        + panels
            .iter()
            .map(|p| 50 + p.bars.len() * ROW)
            .sum::<usize>()
        + 20;
    let mut c = Canvas::new(W, height);
    let mut y = 12;
    c.text(
        12,
        y,
        3,
        INK,
        "E1000 (VFIO, USER SPACE) VS THE LINUX KERNEL DRIVER",
    );
    y += 30;
    c.fill(12, y, 14, 14, OURS);
    let mut x = c.text(32, y, 2, OURS, "OURS (E1000 CLI)");
    c.fill(x + 20, y, 14, 14, KERNEL);
    x = c.text(x + 40, y, 2, KERNEL, "KERNEL DRIVER");
    c.text(x + 20, y, 2, GREY, &format!("QEMU TCG, {}", run.date));
    y += 28;
    for p in &panels {
        c.text(12, y, 2, INK, &p.title);
        y += 22;
        let max = p
            .bars
            .iter()
            .filter_map(|b| b.value)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let mut last_model = String::new();
        for b in &p.bars {
            let model = b.label.split(' ').next().unwrap_or("").to_string();
            if model != last_model && !last_model.is_empty() {
                c.fill(12, y + 1, W - 24, 1, [220, 220, 220]);
            }
            last_model = model;
            c.text(12, y + 4, 2, INK, &b.label);
            let color = if b.ours { OURS } else { KERNEL };
            let value = b.value.filter(|v| v.is_finite());
            let len = match value {
                Some(v) if max > 0.0 => ((v / max) * BAR_MAX as f64).round() as usize,
                _ => 0,
            };
            c.fill(LABEL, y + 3, len.max(1), ROW - 5, color);
            let label = value.map_or("N/A".to_string(), |v| format!("{}{}", short(v), p.unit));
            c.text(LABEL + len + 6, y + 4, 2, INK, &label);
            y += ROW;
        }
        y += 28;
    }
    // A frame around everything, for viewers with dark backgrounds.
    c.fill(0, 0, W, 2, GREY);
    c.fill(0, height - 2, W, 2, GREY);
    c.fill(0, 0, 2, height, GREY);
    c.fill(W - 2, 0, 2, height, GREY);
    c.png()
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_numbers() {
        assert_eq!(super::short(1_234_567.0), "1.23M");
        assert_eq!(super::short(45_678.0), "45.7K");
        assert_eq!(super::short(4_567.0), "4.57K");
        assert_eq!(super::short(12.3), "12");
    }
}
