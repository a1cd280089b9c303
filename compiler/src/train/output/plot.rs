//! The training curves: the loss per epoch at the top, the accuracies per
//! epoch below it (training, validation clean, validation with the hardware),
//! and at the bottom each layer's weight norm and activation RMS per epoch on
//! log scales, drawn by `plotters` with the sweep plot's font and colors (SVG
//! and PNG, the same picture).

use crate::files::write_via_temporary;
use crate::sweep::plot::{color_of, register_font};
use crate::train::{EpochRecord, LayerRecord};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 1200;

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

/// One panel: `series` (label, points) over the epochs, y over `y` (a
/// linear or a log range).
fn panel<DB: DrawingBackend, Y>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    ylabel: &str,
    epochs: usize,
    y: Y,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
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
            .label(label)
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
    let rows = root.split_evenly((3, 1));
    let (upper, lower) = (&rows[0], &rows[1]);
    let points = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
        epochs.iter().map(|r| (r.epoch as f64, f(r))).filter(|(_, y)| y.is_finite()).collect()
    };
    let last = epochs.last().map_or(1, |r| r.epoch as usize);
    let loss = points(|r| r.loss);
    let top = loss.iter().fold(0.0f64, |m, (_, y)| m.max(*y));
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    panel(upper, "mean training loss", "loss", last, 0.0..top, &[("loss".into(), loss)])?;
    let accuracies = [
        ("training".into(), points(|r| 100.0 * r.train_accuracy)),
        ("validation, clean".into(), points(|r| 100.0 * r.val_accuracy_clean)),
        ("validation, with the hardware".into(), points(|r| 100.0 * r.val_accuracy_hardware)),
    ];
    // From 5 points under the lowest accuracy (a multiple of 5), so the curves near 100% separate.
    let lowest = accuracies.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)).fold(100.0f64, f64::min);
    let bottom = ((lowest - 5.0) / 5.0).floor().max(0.0) * 5.0;
    panel(lower, "accuracy", "accuracy (%)", last, bottom..100.0, &accuracies)?;
    let (left, right) = rows[2].split_horizontally(rows[2].dim_in_pixel().0 / 2);
    let per_layer = |f: fn(&LayerRecord) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
        let names = epochs.first().map_or(&[][..], |r| &r.layers[..]).iter().map(|l| l.layer.clone());
        let at = |k: usize| epochs.iter().map(move |r| (r.epoch as f64, f(&r.layers[k])));
        names.enumerate().map(|(k, name)| (name, at(k).filter(|(_, y)| *y > 0.0 && y.is_finite()).collect())).collect()
    };
    let norms = per_layer(|l| l.weight_norm);
    panel(&left, "weight norm per layer (log scale)", "Frobenius norm", last, log_range(&norms).log_scale(), &norms)?;
    let rms = per_layer(|l| l.activation_rms);
    panel(
        &right,
        "activation RMS per layer (log scale)",
        "RMS before its noise",
        last,
        log_range(&rms).log_scale(),
        &rms,
    )
}

/// A range from a third of the smallest value to three times the largest.
fn log_range(series: &[(String, Vec<(f64, f64)>)]) -> std::ops::Range<f64> {
    let values = series.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y));
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    if hi > 0.0 {
        lo / 3.0..hi * 3.0
    } else {
        0.1..10.0
    }
}
