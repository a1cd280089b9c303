//! Joining the results of `analogc sweep --shard i/n` runs into the result of
//! one unsharded run (the same bytes: a point's result depends only on the
//! point and the seed).

use super::result::SweepResult;
use std::path::PathBuf;

/// Joins shard results; they must come from the same sweep and cover every point.
pub fn join(docs: Vec<(PathBuf, SweepResult)>) -> Result<SweepResult, String> {
    let mut it = docs.into_iter();
    let (first_dir, mut doc) = it.next().ok_or("nothing to merge")?;
    for (dir, d) in it {
        let same = d.model == doc.model
            && d.classes == doc.classes
            && d.settings == doc.settings
            && d.clean_hits == doc.clean_hits
            && d.sites == doc.sites;
        if !same {
            return Err(format!(
                "`{}` and `{}` are not shards of the same sweep (model, settings, data or sites differ)",
                first_dir.display(),
                dir.display()
            ));
        }
        for (s, row) in d.hits.into_iter().enumerate() {
            for (v, h) in row.into_iter().enumerate() {
                let Some(h) = h else { continue };
                match &doc.hits[s][v] {
                    Some(old) if *old != h => {
                        return Err(format!(
                            "`{}` disagrees with an earlier folder on site `{}` at {}",
                            dir.display(),
                            doc.sites[s],
                            doc.grid[v].text
                        ))
                    }
                    _ => doc.hits[s][v] = Some(h),
                }
            }
        }
    }
    let missing: Vec<String> = doc
        .sites
        .iter()
        .enumerate()
        .flat_map(|(s, site)| {
            let doc = &doc;
            (0..doc.grid.len())
                .filter(move |v| doc.hits[s][*v].is_none())
                .map(move |v| format!("{site}@{}", doc.grid[v].text))
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} grid point{} missing (a shard not given?): {}{}",
            missing.len(),
            if missing.len() == 1 { " is" } else { "s are" },
            missing.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            if missing.len() > 5 { ", …" } else { "" }
        ));
    }
    doc.shard = None;
    Ok(doc)
}
