//! The sweep plot: accuracy against the swept value, one curve per site, the
//! clean and chance levels and each curve's midpoint, drawn by `plotters` with
//! an embedded DejaVu font (SVG and PNG, the same picture).

use super::grid::fmt_num;
use super::result::SweepResult;
use crate::files::write_via_temporary;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Tableau 10, then plotters' 99-colour palette.
pub(crate) fn color_of(k: usize) -> RGBAColor {
    const TABLEAU: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    match TABLEAU.get(k) {
        Some(&(r, g, b)) => RGBColor(r, g, b).to_rgba(),
        None => Palette99::pick(k).to_rgba(),
    }
}

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 640;

/// Registers the embedded DejaVu Sans as plotters' `sans-serif`, so text
/// renders on a machine without system fonts.
pub(crate) fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

pub fn plot_svg(doc: &SweepResult) -> Result<String, String> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, doc)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Writes the PNG atomically (through a temporary file next to `path`).
pub fn plot_png(doc: &SweepResult, path: &Path) -> std::io::Result<()> {
    register_font();
    write_via_temporary(path, |tmp| {
        let root = BitMapBackend::new(tmp, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, doc).map_err(std::io::Error::other)?;
        root.present().map_err(|e| std::io::Error::other(e.to_string()))
    })
}

/// The plot's title and x-axis label.
fn titles(doc: &SweepResult) -> (String, String) {
    let axis = doc.settings.sweep.is_some().then(|| doc.axis());
    let what = match &axis {
        Some(p) => format!("{p} swept"),
        None => format!(
            "{} noise, {}",
            serde_json::to_value(doc.settings.kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            if doc.settings.global { "one site at a time and all at once" } else { "one site at a time" }
        ),
    };
    let title = format!("{}: accuracy vs {} ({what})", doc.model, axis.clone().unwrap_or_else(|| "σ".into()));
    let xlabel = match &axis {
        Some(p) => p.clone(),
        None => "σ, noise level on the site's output (log scale)".into(),
    };
    (title, xlabel)
}

/// Per site, its points (value, mean accuracy in %) that were run.
fn curves(doc: &SweepResult) -> Vec<(usize, Vec<(f64, f64)>)> {
    (0..doc.sites.len())
        .map(|s| {
            let pts = (0..doc.grid.len())
                .filter_map(|v| {
                    let h = doc.hits[s][v].as_ref()?;
                    let mean = h.iter().sum::<usize>() as f64 / h.len() as f64 / doc.settings.samples as f64;
                    Some((doc.grid[v].value, 100.0 * mean))
                })
                .collect();
            (s, pts)
        })
        .collect()
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, doc: &SweepResult) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (root, foot) = root.split_vertically(HEIGHT - 30);
    let values: Vec<f64> = doc.grid.iter().map(|g| g.value).collect();
    let (mut lo, mut hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let log = lo > 0.0;
    if lo == hi {
        (lo, hi) = if log { (lo / 2.0, hi * 2.0) } else { (lo - 1.0, hi + 1.0) };
    }
    let (title, xlabel) = titles(doc);
    let level = 100.0 * doc.level();
    let (clean, chance) = (100.0 * doc.clean(), 100.0 * doc.chance());
    let mids = doc.midpoints();
    let curves = curves(doc);
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .light_line_style(RGBColor(235, 235, 235))
                .x_desc(xlabel.as_str())
                .y_desc("accuracy (%)")
                .x_label_formatter(&|v| if log { format!("{v:.0e}") } else { format!("{v}") })
                .label_style(("sans-serif", 16))
                .axis_desc_style(("sans-serif", 18))
                .draw()
                .map_err(err)?;
            let black = RGBColor(0, 0, 0);
            let grey = RGBColor(110, 110, 110);
            chart
                .draw_series(DashedLineSeries::new(vec![(lo, clean), (hi, clean)], 8, 5, black.stroke_width(2)))
                .map_err(err)?
                .label(format!("clean {clean:.2}%"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], black.stroke_width(2)));
            chart
                .draw_series(DashedLineSeries::new(vec![(lo, chance), (hi, chance)], 8, 5, grey.stroke_width(2)))
                .map_err(err)?
                .label(format!("chance {chance:.2}%"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(2)));
            for (s, pts) in &curves {
                let color = color_of(*s);
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                    .map_err(err)?
                    .label(match mids[*s] {
                        Some(m) => format!("{} (midpoint {})", doc.sites[*s], fmt_num(m)),
                        None => format!("{} (no midpoint)", doc.sites[*s]),
                    })
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
                chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled()))).map_err(err)?;
                if let Some(m) = mids[*s] {
                    chart
                        .draw_series(std::iter::once(Cross::new((m, level), 8, color.stroke_width(3))))
                        .map_err(err)?;
                }
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(black)
                .label_font(("sans-serif", 15))
                .draw()
                .map_err(err)?;
        }};
    }
    let mut builder = ChartBuilder::on(&root);
    builder.caption(title, ("sans-serif", 22)).margin(16).x_label_area_size(56).y_label_area_size(64);
    if log {
        body!(builder.build_cartesian_2d((lo..hi).log_scale(), 0.0..100.0).map_err(err)?);
    } else {
        body!(builder.build_cartesian_2d(lo..hi, 0.0..100.0).map_err(err)?);
    }
    foot.draw(&Text::new(
        format!("× midpoint: where the mean accuracy is {level:.2}%, halfway between clean and chance (1/classes)"),
        (20, 6),
        ("sans-serif", 15),
    ))
    .map_err(err)?;
    Ok(())
}
