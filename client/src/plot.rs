//! `stillepost report --format svg|png`: a tour's percentile plot, drawn the way
//! HdrHistogram's plotter (`plotFiles.html`) draws `hgrm` files.
//!
//! - x: the percentile, on a log scale of 1/(1 − p), so that 90 %, 99 %, 99.9 %, ... are
//!   equally spaced; the axis is labelled 0 %, 90 %, 99 %, 99.9 %, ... and reaches the first
//!   such label at or beyond the highest percentile drawn (99 % at least).
//! - y: latency in `--unit` (µs by default), linear from 0, or with `--log-y` on a log
//!   scale from the decade below the smallest value drawn, labelled at 1, 2 and 5 times
//!   each power of ten, so that p50 stays readable when the max is hundreds of times
//!   larger.
//! - One line per histogram of [`crate::export::histograms`]: the tour (and with `--rate`
//!   the tour from the intended send), every hop in ring order, and every forwarding
//!   member's residence (dashed), labelled in a legend ("tour", "tour from intended send",
//!   "hop 0→1", "residence 1"). Its points are the steps `hgrm` prints
//!   ([`crate::export::percentile_steps`], 5 ticks per half distance) joined by straight
//!   lines, without the final 100 % step: its 1/(1 − p) is infinite, `hgrm` prints no
//!   1/(1 − p) for it and HdrHistogram's plotter leaves it out too.
//! - A histogram without values has no line; its legend entry says "(no values)".
//!
//! Text is laid out (and, in PNGs, drawn) with DejaVu Sans embedded in the binary, so no
//! system font is needed; SVGs name the font family `sans-serif` and leave drawing the text
//! to the viewer.

use anyhow::{Context, Result, anyhow};
use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use stillepost_control::proto::{Outcome, TourResult};

use crate::cli::Unit;
use crate::export::{histograms, percentile_steps};

/// Plot size in pixels (SVG user units and PNG pixels).
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 700;

/// The tour's line; the others take [`PALETTE`]'s colours in turn.
const TOUR_COLOR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
/// Tableau's 10 colours without the tour's blue.
const PALETTE: [RGBColor; 9] = [
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// The font family plotters asks for; DejaVu Sans is registered under this name.
const FONT: &str = "sans-serif";

/// 1/(1 − p) for a percentile level `p` given as a fraction (0.99 → 100).
pub fn inverse_tail(p: f64) -> f64 {
    1.0 / (1.0 - p)
}

/// A step's position on the x axis: log10 of 1/(1 − p) for a percentile in %, so that
/// 90 % is at 1, 99 % at 2, 99.9 % at 3.
pub fn x_position(percentile: f64) -> f64 {
    inverse_tail(percentile / 100.0).log10()
}

/// The label of the x axis at `nines` (0 → "0%", 1 → "90%", 2 → "99%", 3 → "99.9%").
pub fn percentile_label(nines: u32) -> String {
    match nines {
        0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        n => format!("99.{}%", "9".repeat(n as usize - 2)),
    }
}

/// One histogram's line: its legend label and its points (x position, value in the unit).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub tag: String,
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// The legend label of an export tag: `hop-0-1` → "hop 0→1", `residence-1` → "residence 1".
pub fn label(tag: &str) -> String {
    if let Some((from, to)) = tag.strip_prefix("hop-").and_then(|r| r.split_once('-')) {
        return format!("hop {from}→{to}");
    }
    if let Some(member) = tag.strip_prefix("residence-") {
        return format!("residence {member}");
    }
    if tag == "tour-intended" {
        return "tour from intended send".to_string();
    }
    tag.to_string()
}

/// A histogram's line: every percentile step but the final 100 % one, values in `unit`.
pub fn line(tag: &str, h: &Histogram<u64>, unit: Unit) -> Line {
    let scale = unit.scale();
    let points = percentile_steps(h, 5)
        .into_iter()
        .filter(|step| step.percentile < 100.0)
        .map(|step| (x_position(step.percentile), step.value as f64 / scale))
        .collect();
    Line {
        tag: tag.to_string(),
        label: label(tag),
        points,
    }
}

/// The plot's title: the tour id, and its message count and length when the result has
/// its parameters.
fn title(result: &TourResult) -> String {
    let mut title = format!("tour {}", crate::report::tour_id(result.tour_id));
    if let Some(p) = &result.params {
        title.push_str(&format!(": {} messages of {} B", p.count, p.msg_len));
    }
    let outcome = result.outcome();
    if outcome != Outcome::Unspecified && outcome != Outcome::Complete {
        title.push_str(&format!(" ({})", outcome.name()));
    }
    title
}

fn unit_symbol(unit: Unit) -> &'static str {
    match unit {
        Unit::Ns => "ns",
        Unit::Us => "µs",
        Unit::Ms => "ms",
    }
}

/// A y tick label with as many decimals as the axis' extent needs.
fn value_label(value: f64, y_max: f64) -> String {
    let decimals = if y_max >= 100.0 {
        0
    } else if y_max >= 10.0 {
        1
    } else if y_max >= 1.0 {
        2
    } else {
        3
    };
    format!("{value:.decimals$}")
}

/// Everything drawn, computed before any drawing.
struct Plot {
    title: String,
    y_desc: String,
    lines: Vec<Line>,
    /// The x axis ends at this many nines.
    nines: u32,
    y: LatencyAxis,
}

impl Plot {
    fn new(result: &TourResult, unit: Unit, log_y: bool) -> Result<Plot> {
        let lines: Vec<Line> = histograms(result)?
            .iter()
            .map(|(tag, h)| line(tag, h, unit))
            .collect();
        let points = || lines.iter().flat_map(|l| l.points.iter());
        let x_max = points().map(|p| p.0).fold(0.0, f64::max);
        // An f64 of at most a few dozen; the cast cannot truncate.
        let nines = (x_max.ceil() as u32).max(2);
        let y_max = points().map(|p| p.1).fold(0.0, f64::max);
        let y = if log_y {
            let smallest = points()
                .map(|p| p.1)
                .filter(|&v| v > 0.0)
                .fold(f64::INFINITY, f64::min);
            LatencyAxis::log(smallest, y_max)
        } else {
            LatencyAxis::linear(y_max)
        };
        Ok(Plot {
            title: title(result),
            y_desc: format!(
                "latency ({}{})",
                unit_symbol(unit),
                if log_y { ", log scale" } else { "" }
            ),
            lines,
            nines,
            y,
        })
    }
}

/// The y axis: latency from `lo` to `hi`, linear, or logarithmic (`log`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct LatencyAxis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl LatencyAxis {
    /// From 0 to a little above the largest value.
    fn linear(max: f64) -> LatencyAxis {
        LatencyAxis {
            lo: 0.0,
            hi: if max > 0.0 { max * 1.05 } else { 1.0 },
            log: false,
        }
    }

    /// From the power of ten at or below the smallest positive value to a little above
    /// the largest; values at or below `lo` (zeros) sit on the axis.
    fn log(min: f64, max: f64) -> LatencyAxis {
        let lo = if min.is_finite() && min > 0.0 {
            10f64.powf(min.log10().floor())
        } else {
            1.0
        };
        LatencyAxis {
            lo,
            hi: (max * 1.2).max(lo * 10.0),
            log: true,
        }
    }

    /// Where `value` lies between `lo` (0) and `hi` (1).
    fn fraction(&self, value: f64) -> f64 {
        if self.log {
            (value.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (value - self.lo) / (self.hi - self.lo)
        }
    }

    /// The labelled values: on a log axis 1, 2 and 5 times each power of ten within it.
    fn log_ticks(&self) -> Vec<f64> {
        let mut ticks = Vec::new();
        let mut decade = self.lo;
        while decade <= self.hi {
            for m in [1.0, 2.0, 5.0] {
                let v = decade * m;
                if v >= self.lo && v <= self.hi {
                    ticks.push(v);
                }
            }
            decade *= 10.0;
        }
        ticks
    }
}

impl Ranged for LatencyAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        limit.0 + (f64::from(limit.1 - limit.0) * self.fraction(*value)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if !self.log {
            return plotters::coord::types::RangedCoordf64::from(self.lo..self.hi).key_points(hint);
        }
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        self.log_ticks()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// The x axis: log10(1/(1 − p)) from 0 to `nines`, linear, with a grid line and label at
/// every whole number of nines (0 %, 90 %, 99 %, ...) and no lighter lines between.
struct NinesAxis(u32);

impl Ranged for NinesAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = value / f64::from(self.0);
        limit.0 + (f64::from(limit.1 - limit.0) * fraction).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        (0..=self.0).map(f64::from).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        0.0..f64::from(self.0)
    }
}

/// Plotters' errors, whose types depend on the backend, as one error naming the step.
fn drawing(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> anyhow::Error {
    move |e| anyhow!("drawing the plot's {what}: {e}")
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, plot: &Plot) -> Result<()> {
    plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| anyhow!("the embedded DejaVu Sans font is not a font"))?;
    root.fill(&WHITE).map_err(|e| drawing("background")(&e))?;
    let mut chart = ChartBuilder::on(root)
        .caption(&plot.title, (FONT, 24))
        .margin(20)
        // Room for half the last x label, centred on the axis' end.
        .margin_right(50)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(NinesAxis(plot.nines), plot.y)
        .map_err(|e| drawing("axes")(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc(plot.y_desc.as_str())
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .max_light_lines(4)
        // Key points are whole numbers of nines.
        .x_label_formatter(&|x| percentile_label(x.round() as u32))
        .y_label_formatter(&|y| {
            if plot.y.log {
                // Each tick as it is: 0.05, 2, 500.
                value_label(*y, *y * 10.0)
            } else {
                value_label(*y, plot.y.hi)
            }
        })
        .draw()
        .map_err(|e| drawing("grid")(&e))?;
    let mut others = PALETTE.iter().cycle();
    for line in &plot.lines {
        let (color, width) = if line.tag == "tour" {
            (TOUR_COLOR, 3)
        } else {
            (*others.next().unwrap_or(&BLACK), 2)
        };
        let style = color.stroke_width(width);
        let label = if line.points.is_empty() {
            format!("{} (no values)", line.label)
        } else {
            line.label.clone()
        };
        let drawn = if line.tag.starts_with("residence-") {
            chart.draw_series(DashedLineSeries::new(line.points.clone(), 8, 5, style))
        } else {
            chart.draw_series(LineSeries::new(line.points.clone(), style))
        };
        drawn
            .map_err(|e| drawing("lines")(&e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| drawing("legend")(&e))?;
    root.present().map_err(|e| drawing("output")(&e))?;
    Ok(())
}

/// The result's percentile plot as an SVG document.
pub fn svg(result: &TourResult, unit: Unit, log_y: bool) -> Result<String> {
    let plot = Plot::new(result, unit, log_y)?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, &plot)?;
    }
    Ok(out)
}

/// The result's percentile plot as a PNG image (8-bit RGB).
pub fn png(result: &TourResult, unit: Unit, log_y: bool) -> Result<Vec<u8>> {
    let plot = Plot::new(result, unit, log_y)?;
    let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, &plot)?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("encoding the PNG")?;
    writer.write_image_data(&rgb).context("encoding the PNG")?;
    writer.finish().context("encoding the PNG")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_over_one_minus_p() {
        assert!((inverse_tail(0.9) - 10.0).abs() < 1e-9);
        assert!((inverse_tail(0.99) - 100.0).abs() < 1e-9);
        assert!((inverse_tail(0.999) - 1000.0).abs() < 1e-6);
        assert_eq!(inverse_tail(0.0), 1.0);
        assert!((x_position(90.0) - 1.0).abs() < 1e-12);
        assert!((x_position(99.0) - 2.0).abs() < 1e-12);
        assert_eq!(x_position(0.0), 0.0);
    }

    #[test]
    fn axis_labels_count_nines() {
        let labels: Vec<String> = (0..=5).map(percentile_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
    }

    #[test]
    fn legend_labels() {
        assert_eq!(label("tour"), "tour");
        assert_eq!(label("hop-0-1"), "hop 0→1");
        assert_eq!(label("hop-12-0"), "hop 12→0");
        assert_eq!(label("residence-3"), "residence 3");
        assert_eq!(label("tour-intended"), "tour from intended send");
    }

    #[test]
    fn points_are_the_hgrm_steps_without_100_percent_in_increasing_x() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        for v in 1..=10_000u64 {
            h.record(v * 1_000).unwrap();
        }
        let steps = percentile_steps(&h, 5);
        let line = line("hop-0-1", &h, Unit::Us);
        assert_eq!(line.label, "hop 0→1");
        // Every step but the last (100 %) one.
        assert_eq!(line.points.len(), steps.len() - 1);
        assert_eq!(steps.last().unwrap().percentile, 100.0);
        assert_eq!(line.points[0], (0.0, 1.0));
        for (point, step) in line.points.iter().zip(&steps) {
            assert_eq!(
                *point,
                (x_position(step.percentile), step.value as f64 / 1000.0)
            );
        }
        for pair in line.points.windows(2) {
            assert!(pair[0].0 < pair[1].0, "x not increasing: {pair:?}");
            assert!(pair[0].1 <= pair[1].1, "value decreasing: {pair:?}");
        }
        assert!(line.points.iter().all(|p| p.0.is_finite()));
        // 90 % is one of hgrm's levels (87.5 % + 2 ticks of 1.25 %), drawn at x = 1.
        assert!(line.points.iter().any(|p| (p.0 - 1.0).abs() < 1e-12));
    }

    /// A log axis spaces powers of ten equally, starts at the decade below the smallest
    /// value, labels 1, 2 and 5 times each power, and puts zeros on the axis.
    #[test]
    fn a_log_latency_axis_spaces_decades_equally() {
        let axis = LatencyAxis::log(3.2, 900.0);
        assert_eq!((axis.lo, axis.hi), (1.0, 1080.0));
        let limit = (600, 0);
        let (a, b, c) = (
            axis.map(&1.0, limit),
            axis.map(&10.0, limit),
            axis.map(&100.0, limit),
        );
        assert_eq!(a, 600);
        assert!((a - b - (b - c)).abs() <= 1, "{a} {b} {c}");
        assert_eq!(axis.map(&0.0, limit), 600);
        assert_eq!(
            axis.log_ticks(),
            [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
        let linear = LatencyAxis::linear(100.0);
        assert_eq!(linear.map(&52.5, limit), 300);
    }

    #[test]
    fn an_empty_histogram_has_no_points() {
        let h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        assert!(line("residence-2", &h, Unit::Us).points.is_empty());
    }
}
