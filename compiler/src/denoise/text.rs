//! What `analogc denoise` prints.

use super::DenoiseReport;

impl DenoiseReport {
    pub fn text(&self) -> String {
        let mut out = format!(
            "{}: denoise blocks at {} (sensitivity on {} samples, seed {})\n",
            self.model,
            self.placement.words(),
            self.samples,
            self.seed
        );
        out.push_str(&format!(
            "{:<5} {:<12} {:>11}  {:<20} {:>6} {:>10}\n",
            "rank", "layer", "sensitivity", "block", "hidden", "parameters"
        ));
        for (rank, r) in self.ranking.iter().enumerate() {
            let sensitivity = r.sensitivity.map_or("—".into(), |s| format!("{s:.3}"));
            let block = r.block.as_ref().and_then(|name| self.blocks.iter().find(|b| b.name == *name));
            let (name, hidden, parameters) = match block {
                Some(b) => (b.name.as_str(), b.hidden.to_string(), b.parameters.to_string()),
                None => ("—", String::new(), String::new()),
            };
            let line = format!(
                "{:<5} {:<12} {:>11}  {:<20} {:>6} {:>10}",
                rank + 1,
                r.layer,
                sensitivity,
                name,
                hidden,
                parameters
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out.push_str(&format!(
            "added {} parameters: {:.2}% of the model's {} (budget {} = {})\n",
            self.parameters_added,
            self.percent_added,
            self.model_parameters,
            self.budget.text(),
            self.budget_parameters
        ));
        match (&self.model_file, &self.weights_file, &self.train_command) {
            (Some(model), Some(weights), Some(train)) => {
                out.push_str(&format!(
                    "wrote {model} and {weights} (blocks start as the identity: `down` He normal, seed {}; `up` zero)\n",
                    self.seed
                ));
                out.push_str(&format!("train the blocks alone, the rest frozen:\n  {train}\n"));
            }
            _ => out.push_str("nothing written: `--out DIR` writes the model with its blocks\n"),
        }
        out
    }
}
