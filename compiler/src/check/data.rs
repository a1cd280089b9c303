//! A model's `data "folder"`: readable, and its samples fit the input. Only
//! the headers are read here; `analogc eval` reads the values.

use super::model::CheckedInput;
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::source::{Loader, Span};
use analog_runtime::dataset;
use std::path::Path;

pub fn check(dir: &Path, span: Span, inputs: &[CheckedInput], loader: &dyn Loader, diags: &mut Diagnostics) {
    let here = |code: Code, msg: String, label: &str| Diagnostic::error(code, msg).primary(span, label.to_string());
    let mut headers = vec![];
    for (names, what) in [(dataset::IMAGES, "images"), (dataset::LABELS, "labels")] {
        let Some((path, bytes)) =
            names.iter().map(|n| dir.join(n)).find_map(|p| loader.read_bytes(&p).ok().map(|b| (p, b)))
        else {
            diags.push(
                here(Code::DataUnreadable, format!("`{}` has no readable {what} file", dir.display()), "this dataset")
                    .note(format!("looked for {}", names.join(", ")))
                    .note("the path is relative to the model file"),
            );
            return;
        };
        match dataset::header(&bytes) {
            Ok(h) => headers.push(h),
            Err(e) => {
                diags.push(here(Code::DataCorrupt, format!("`{}`: {e}", path.display()), "this dataset"));
                return;
            }
        }
    }
    let (ih, lh) = (&headers[0], &headers[1]);
    if lh.shape.len() != 1 || lh.shape[0] != ih.shape[0] {
        diags.push(here(
            Code::DataLabels,
            format!("the dataset has {} images but labels of shape {:?}", ih.shape[0], lh.shape),
            "labels do not match the images",
        ));
    }
    let [input] = inputs else {
        diags.push(here(
            Code::DataShape,
            format!("a dataset feeds one input, the model has {}", inputs.len()),
            "this dataset",
        ));
        return;
    };
    let sample = &ih.shape[1..];
    if !dataset::fits(sample, &input.shape) {
        diags.push(
            here(
                Code::DataShape,
                format!("dataset samples are {sample:?} but input `{}` is {:?}", input.name, input.shape),
                "this dataset",
            )
            .secondary(input.span, format!("`{}` declared here", input.name)),
        );
    }
    if ih.dtype != input.dtype {
        diags.push(
            here(
                Code::DataDtype,
                format!("dataset images are {} but input `{}` is {}", ih.dtype, input.name, input.dtype),
                "this dataset",
            )
            .secondary(input.span, format!("`{}` declared here", input.name)),
        );
    }
}
