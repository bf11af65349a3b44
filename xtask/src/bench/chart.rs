//! The bench charts: one SVG per model (drawn with `plotters`), one panel of
//! horizontal bars per measure, ours in blue, DPDK's testpmd in green and the
//! guest kernel's path in orange.

use super::ladder;
use super::measure::{EchoResult, TxCount};
use super::{ModelResult, TX_SIZES};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

const OURS: RGBColor = RGBColor(46, 98, 168);
const DPDK: RGBColor = RGBColor(44, 150, 80);
const KERNEL: RGBColor = RGBColor(222, 120, 30);

/// A number with a K/M suffix: `57.1K`.
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

/// One bar: label, value, colour.
type Bar = (String, f64, RGBColor);

/// One panel: title, unit formatter, bars.
struct Panel {
    title: String,
    value_text: fn(f64) -> String,
    bars: Vec<Bar>,
}

fn us(v: f64) -> String {
    format!("{v:.1} µs")
}

fn echo_label(e: &EchoResult) -> (String, RGBColor) {
    match e.mode.as_str() {
        "kernel" => ("kernel + AF_PACKET".into(), KERNEL),
        "testpmd" => ("DPDK testpmd macswap".into(), DPDK),
        mode => (format!("ours --irq {mode}"), OURS),
    }
}

fn tx_bars(m: &ModelResult, size: usize) -> Vec<Bar> {
    let of =
        |v: &[TxCount]| -> Vec<TxCount> { v.iter().filter(|t| t.size == size).cloned().collect() };
    let mut bars = Vec::new();
    for t in of(&m.tx_ours) {
        bars.push(("ours: e1000 send".to_string(), t.fps, OURS));
    }
    for t in of(&m.tx_dpdk) {
        bars.push(("DPDK testpmd txonly, burst 32".to_string(), t.fps, DPDK));
    }
    for t in of(&m.tx_kernel) {
        let burst = t
            .settings
            .split("`burst ")
            .nth(1)
            .and_then(|r| r.split('`').next())
            .unwrap_or("?");
        bars.push((format!("kernel pktgen, burst {burst}"), t.fps, KERNEL));
    }
    bars
}

fn panels(m: &ModelResult) -> Vec<Panel> {
    let mut out = Vec::new();
    for size in TX_SIZES {
        out.push(Panel {
            title: format!("TX, {}-byte frames per second at the host", size + 4),
            value_text: short,
            bars: tx_bars(m, size),
        });
    }
    let echo = |f: &dyn Fn(&EchoResult) -> Option<f64>| -> Vec<Bar> {
        m.echo
            .iter()
            .filter_map(|e| {
                let (label, color) = echo_label(e);
                f(e).map(|v| (label, v, color))
            })
            .collect()
    };
    out.push(Panel {
        title: "Echo, highest lossless rate, 64-byte frames/s".into(),
        value_text: short,
        bars: echo(&|e| e.lossless().map(|v| v as f64)),
    });
    out.push(Panel {
        title: "Echo, saturation (highest rate echoed), frames/s".into(),
        value_text: short,
        bars: echo(&|e| (!e.rungs.is_empty()).then(|| ladder::saturation(&e.rungs))),
    });
    out.push(Panel {
        title: "Ping-pong round trip p50, µs (shorter is better)".into(),
        value_text: us,
        bars: echo(&|e| e.ping.map(|p| p.0)),
    });
    for rate in super::measure::COST_RATES {
        out.push(Panel {
            title: format!(
                "Guest CPU per echoed frame at {} frames/s offered, µs (shorter is better; * = lossy there)",
                short(rate as f64)
            ),
            value_text: us,
            bars: m
                .echo
                .iter()
                .filter_map(|e| {
                    let c = e.cost.iter().find(|c| c.rate == rate)?;
                    let (label, color) = echo_label(e);
                    let label = if c.perfect { label } else { format!("{label} *") };
                    Some((label, c.guest_us, color))
                })
                .collect(),
        });
    }
    out.into_iter().filter(|p| !p.bars.is_empty()).collect()
}

const WIDTH: u32 = 960;
const BAR: u32 = 24;
const PANEL_EXTRA: u32 = 70;

/// The SVG chart of one model.
pub fn render(m: &ModelResult) -> String {
    let panels = panels(m);
    let heights: Vec<u32> = panels
        .iter()
        .map(|p| PANEL_EXTRA + BAR * p.bars.len() as u32)
        .collect();
    let height = 50 + heights.iter().sum::<u32>();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        let _ = draw(&root, m, &panels, &heights);
        let _ = root.present();
    }
    svg
}

fn draw(
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    m: &ModelResult,
    panels: &[Panel],
    heights: &[u32],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let (title, rest) = root.split_vertically(50);
    title.draw(&Text::new(
        format!(
            "{}: ours (blue) vs DPDK testpmd (green) vs the guest kernel (orange)",
            m.model
        ),
        (10, 15),
        ("sans-serif", 20).into_font().color(&BLACK),
    ))?;
    let mut area = rest;
    for (panel, &h) in panels.iter().zip(heights) {
        let (this, below) = area.split_vertically(h);
        area = below;
        let n = panel.bars.len();
        let max = panel.bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1e-9) * 1.25;
        let mut chart = ChartBuilder::on(&this)
            .caption(&panel.title, ("sans-serif", 15))
            .margin_left(10)
            .margin_right(20)
            .margin_bottom(6)
            .x_label_area_size(22)
            .y_label_area_size(250)
            .build_cartesian_2d(0.0..max, (0..n).into_segmented())?;
        let labels: Vec<String> = panel.bars.iter().map(|b| b.0.clone()).collect();
        let value_text = panel.value_text;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(6)
            .x_label_formatter(&|v| value_text(*v))
            .y_labels(n)
            .light_line_style(WHITE)
            .y_label_formatter(&|v| match v {
                // The first bar at the top.
                SegmentValue::CenterOf(i) if *i < n => labels[n - 1 - i].clone(),
                _ => String::new(),
            })
            .label_style(("sans-serif", 12))
            .draw()?;
        let row = |i: usize| n - 1 - i;
        chart.draw_series(panel.bars.iter().enumerate().map(|(i, (_, v, color))| {
            let i = row(i);
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (*v, SegmentValue::Exact(i + 1)),
                ],
                color.filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        }))?;
        chart.draw_series(panel.bars.iter().enumerate().map(|(i, (_, v, _))| {
            Text::new(
                format!(" {}", value_text(*v)),
                (*v, SegmentValue::CenterOf(row(i))),
                ("sans-serif", 12).into_font().color(&BLACK),
            )
        }))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::ladder::Rung;

    #[test]
    fn short_numbers() {
        assert_eq!(short(57_123.0), "57.1K");
        assert_eq!(short(2_000.0), "2.00K");
        assert_eq!(short(1_500_000.0), "1.50M");
        assert_eq!(short(12.0), "12");
    }

    #[test]
    fn renders_an_svg_with_every_path() {
        let rung = Rung {
            offered: 10_000,
            sent_rate: 10_000.0,
            echoed_rate: 10_000.0,
            perfect: true,
            ..Rung::default()
        };
        let echo = |mode: &str| EchoResult {
            mode: mode.into(),
            rungs: vec![rung.clone()],
            ping: Some((50.0, 90.0, 0)),
            ..EchoResult::default()
        };
        let m = ModelResult {
            model: "e1000e".into(),
            tx_ours: vec![TxCount {
                size: 60,
                fps: 100_000.0,
                ..TxCount::default()
            }],
            echo: vec![echo("poll"), echo("testpmd"), echo("kernel")],
            ..ModelResult::default()
        };
        let svg = render(&m);
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        for label in [
            "ours --irq poll",
            "DPDK testpmd macswap",
            "kernel + AF_PACKET",
            "µs",
        ] {
            assert!(svg.contains(label), "no {label} in the chart");
        }
    }
}
