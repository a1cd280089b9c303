//! The one place diagnostics become text: codespan-reporting for people,
//! JSON lines for editors.

use super::{Diagnostic, Severity};
use crate::source::SourceMap;
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor::WriteColor, Config};
use serde_json::json;

fn files(map: &SourceMap) -> SimpleFiles<String, &str> {
    let mut files = SimpleFiles::new();
    for (_, f) in map.files() {
        files.add(f.path.display().to_string(), f.text.as_str());
    }
    files
}

fn to_codespan(d: &Diagnostic) -> cs::Diagnostic<usize> {
    let severity = match d.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let labels = d
        .labels
        .iter()
        .map(|l| {
            let style = if l.primary { cs::LabelStyle::Primary } else { cs::LabelStyle::Secondary };
            cs::Label::new(style, l.span.file.0 as usize, l.span.range()).with_message(&l.message)
        })
        .collect();
    cs::Diagnostic::new(severity)
        .with_code(d.code.as_str())
        .with_message(&d.message)
        .with_labels(labels)
        .with_notes(d.notes.clone())
}

/// Renders for a terminal (colored when `out` supports it).
pub fn emit(out: &mut dyn WriteColor, map: &SourceMap, diags: &[Diagnostic]) -> std::io::Result<()> {
    let files = files(map);
    let config = Config::default();
    for d in diags {
        term::emit_to_write_style(out, &config, &files, &to_codespan(d)).map_err(std::io::Error::other)?;
    }
    Ok(())
}

/// Renders as plain text, as the CLI prints without color (used by tests).
pub fn to_string(map: &SourceMap, diags: &[Diagnostic]) -> String {
    let files = files(map);
    let config = Config::default();
    let mut out = String::new();
    for d in diags {
        match term::emit_to_string(&mut out, &config, &files, &to_codespan(d)) {
            Ok(()) => {}
            Err(e) => out.push_str(&format!("<cannot render diagnostic {}: {e}>\n", d.code.as_str())),
        }
    }
    out
}

/// One JSON object per diagnostic, one per line.
pub fn to_json_lines(map: &SourceMap, diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let labels: Vec<_> = d
            .labels
            .iter()
            .map(|l| {
                let (line, column) = map.line_col(l.span.file, l.span.start);
                let (end_line, end_column) = map.line_col(l.span.file, l.span.end);
                json!({
                    "file": map.get(l.span.file).path.display().to_string(),
                    "start": l.span.start,
                    "end": l.span.end,
                    "line": line,
                    "column": column,
                    "end_line": end_line,
                    "end_column": end_column,
                    "message": l.message,
                    "primary": l.primary,
                })
            })
            .collect();
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let obj = json!({
            "severity": severity,
            "code": d.code.as_str(),
            "message": d.message,
            "labels": labels,
            "notes": d.notes,
        });
        out.push_str(&obj.to_string());
        out.push('\n');
    }
    out
}
