//! The training curves: the loss per epoch above, the accuracies per epoch
//! below (training, validation clean, validation with the hardware), drawn by
//! `plotters` with the sweep plot's font and colors (SVG and PNG, the same picture).

use crate::files::write_via_temporary;
use crate::sweep::plot::{color_of, register_font};
use crate::train::EpochRecord;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 800;

pub fn svg(epochs: &[EpochRecord], title: &str) -> Result<String, String> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, epochs, title)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Writes the PNG atomically (through a temporary file next to `path`).
pub fn png(epochs: &[EpochRecord], title: &str, path: &Path) -> std::io::Result<()> {
    register_font();
    write_via_temporary(path, |tmp| {
        let root = BitMapBackend::new(tmp, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, epochs, title).map_err(std::io::Error::other)?;
        root.present().map_err(|e| std::io::Error::other(e.to_string()))
    })
}

/// One panel: `series` (label, points) over the epochs, y over `y`.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    ylabel: &str,
    epochs: usize,
    y: std::ops::Range<f64>,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.5..epochs as f64 + 0.5, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .x_desc("epoch")
        .y_desc(ylabel)
        .x_labels(epochs.min(12))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(err)?;
    for (k, (label, points)) in series.iter().enumerate() {
        let color = color_of(k);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled()))).map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(0, 0, 0))
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    Ok(())
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, epochs: &[EpochRecord], title: &str) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(|e| e.to_string())?;
    let (upper, lower) = root.split_vertically(root.dim_in_pixel().1 / 2);
    let points = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
        epochs.iter().map(|r| (r.epoch as f64, f(r))).filter(|(_, y)| y.is_finite()).collect()
    };
    let last = epochs.last().map_or(1, |r| r.epoch as usize);
    let loss = points(|r| r.loss);
    let top = loss.iter().fold(0.0f64, |m, (_, y)| m.max(*y));
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    panel(&upper, "mean training loss", "loss", last, 0.0..top, &[("loss", loss)])?;
    let accuracies = [
        ("training", points(|r| 100.0 * r.train_accuracy)),
        ("validation, clean", points(|r| 100.0 * r.val_accuracy_clean)),
        ("validation, with the hardware", points(|r| 100.0 * r.val_accuracy_hardware)),
    ];
    // From 5 points under the lowest accuracy (a multiple of 5), so the curves near 100% separate.
    let lowest = accuracies.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)).fold(100.0f64, f64::min);
    let bottom = ((lowest - 5.0) / 5.0).floor().max(0.0) * 5.0;
    panel(&lower, "accuracy", "accuracy (%)", last, bottom..100.0, &accuracies)
}
