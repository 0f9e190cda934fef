//! Results as Markdown: printed on the terminal and, by `all --write`, to docs.

use std::fmt::Write as _;

/// Whether a target is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Miss,
    /// Could not be measured in this run (the note says why).
    NotRun,
}

impl Verdict {
    pub fn from_met(met: bool) -> Self {
        if met { Verdict::Pass } else { Verdict::Miss }
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::NotRun => "NOT RUN",
        }
    }
}

/// One target of the issue and how this run did against it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The target as stated, e.g. "block p50 <= 1.0x sockperf".
    pub goal: String,
    /// The measured ratio, if there is one.
    pub ratio: Option<f64>,
    pub verdict: Verdict,
    /// Why, where the ratio alone does not say.
    pub note: Option<String>,
}

impl Target {
    /// The ratio to three decimals, so a value just past 1.0 never reads as "1.00x".
    pub fn ratio_text(&self) -> String {
        self.ratio
            .map_or_else(|| "-".into(), |value| format!("{value:.3}x"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub caption: Option<String>,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            caption: None,
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// A Markdown table with padded columns, readable as plain text too.
    pub fn to_markdown(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = (0..columns)
                .map(|i| {
                    let cell = cells.get(i).map_or("", String::as_str);
                    format!("{cell:<width$}", width = widths[i])
                })
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let mut out = String::new();
        if let Some(caption) = &self.caption {
            let _ = writeln!(out, "{caption}\n");
        }
        out.push_str(&line(&self.header));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let _ = writeln!(out, "|-{}-|", rule.join("-|-"));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// The result of one benchmark scenario.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    pub title: String,
    /// What is compared with what, in prose.
    pub about: String,
    pub tables: Vec<Table>,
    pub targets: Vec<Target>,
    pub notes: Vec<String>,
    /// Every command line run for it, in order, repeats counted.
    pub commands: Vec<String>,
}

impl Section {
    pub fn new(title: impl Into<String>, about: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            about: about.into(),
            ..Self::default()
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!("## {}\n\n", self.title);
        if !self.about.is_empty() {
            let _ = writeln!(out, "{}\n", self.about);
        }
        for table in &self.tables {
            let _ = writeln!(out, "{}", table.to_markdown());
        }
        if !self.targets.is_empty() {
            out.push_str(&targets_table(&self.targets).to_markdown());
            out.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        if !self.commands.is_empty() {
            out.push_str("Commands run:\n\n```\n");
            for command in &self.commands {
                let _ = writeln!(out, "{command}");
            }
            out.push_str("```\n\n");
        }
        out
    }
}

/// Targets with their ratio, verdict and reason.
pub fn targets_table(targets: &[Target]) -> Table {
    let mut table = Table::new(&["target", "measured", "verdict", "note"]);
    for target in targets {
        table.row(vec![
            target.goal.clone(),
            target.ratio_text(),
            target.verdict.label().into(),
            target.note.clone().unwrap_or_default(),
        ]);
    }
    table
}

/// Command lines in order, each once, with "(N×)" where it ran more than once.
pub fn count_commands(lines: &[String]) -> Vec<String> {
    let mut counted: Vec<(String, usize)> = Vec::new();
    for line in lines {
        match counted.iter_mut().find(|(seen, _)| seen == line) {
            Some((_, n)) => *n += 1,
            None => counted.push((line.clone(), 1)),
        }
    }
    counted
        .into_iter()
        .map(|(line, n)| {
            if n == 1 {
                line
            } else {
                format!("{line}    # {n}x")
            }
        })
        .collect()
}

/// "0.93x".
pub fn ratio(value: f64) -> String {
    format!("{value:.2}x")
}

/// Microseconds with two decimals.
pub fn micros(value: f64) -> String {
    format!("{value:.2}")
}

/// Messages per second in thousands, "262.3 k".
pub fn kilo_rate(per_s: f64) -> String {
    format!("{:.1} k", per_s / 1000.0)
}

/// The median; `None` for no values.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn repeated_commands_are_counted_in_first_seen_order() {
        let lines: Vec<String> = ["a", "b", "a", "a", "c"].map(String::from).to_vec();
        assert_eq!(count_commands(&lines), vec!["a    # 3x", "b", "c"]);
    }

    #[test]
    fn a_section_renders_as_markdown() {
        let mut section = Section::new("Latency", "What is compared.");
        let mut table = Table::new(&["round", "p50 (us)"]).caption("Per round:");
        table.row(vec!["1".into(), micros(5.8333)]);
        section.tables.push(table);
        section.targets.push(Target {
            goal: "p50 <= 1.0x".into(),
            ratio: Some(1.0571),
            verdict: Verdict::Miss,
            note: None,
        });
        section.note("a note");
        section.note("a note");
        section.commands = vec!["sockperf server".into()];
        assert_eq!(
            section.to_markdown(),
            "## Latency\n\nWhat is compared.\n\nPer round:\n\n\
             | round | p50 (us) |\n|-------|----------|\n| 1     | 5.83     |\n\n\
             | target      | measured | verdict | note |\n\
             |-------------|----------|---------|------|\n\
             | p50 <= 1.0x | 1.057x   | MISS    |      |\n\n\
             - a note\n\n\
             Commands run:\n\n```\nsockperf server\n```\n\n"
        );
    }
}
