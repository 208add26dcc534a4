//! Reports as people and spreadsheets read them: an aligned table (durations as
//! `h:mm:ss`, shares as percentages, times in RFC 3339) or CSV (durations in seconds,
//! shares as fractions), from the same rows; JSON is the report itself.

use super::{AgentsReport, CampaignReport, LeadReport};

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Count(u64),
    /// A duration in ms.
    Ms(Option<u64>),
    /// A share, 0 to 1.
    Share(Option<f64>),
    /// A time, Unix ms.
    Time(Option<u64>),
}

/// A report as a header and rows.
pub struct Rows {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

impl Cell {
    fn for_table(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Ms(Some(ms)) => {
                let s = ms / 1000;
                format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
            }
            Cell::Share(Some(x)) => format!("{:.1} %", x * 100.0),
            Cell::Time(Some(ms)) => time(*ms),
            Cell::Ms(None) | Cell::Share(None) | Cell::Time(None) => "-".into(),
        }
    }

    fn for_csv(&self) -> String {
        match self {
            Cell::Ms(Some(ms)) => format!("{:.3}", *ms as f64 / 1000.0),
            Cell::Share(Some(x)) => format!("{x:.4}"),
            Cell::Ms(None) | Cell::Share(None) | Cell::Time(None) => String::new(),
            other => other.for_table(),
        }
    }
}

fn time(ms: u64) -> String {
    jiff::Timestamp::from_millisecond(i64::try_from(ms).unwrap_or(i64::MAX))
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// The rows as an aligned table, a line each.
pub fn table(rows: &Rows) -> String {
    let cells: Vec<Vec<String>> = rows
        .rows
        .iter()
        .map(|r| r.iter().map(Cell::for_table).collect())
        .collect();
    let mut widths: Vec<usize> = rows.header.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |items: Vec<&str>| -> String {
        let padded: Vec<String> = items
            .iter()
            .zip(&widths)
            .map(|(item, w)| format!("{item:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(rows.header.clone());
    for row in &cells {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

/// The rows as CSV, header first.
pub fn csv(rows: &Rows) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&rows.header)?;
    for row in &rows.rows {
        w.write_record(row.iter().map(Cell::for_csv))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

impl AgentsReport {
    pub fn rows(&self) -> Rows {
        let header = vec![
            "agent",
            "name",
            "login",
            "wait",
            "talk",
            "wrap_up",
            "pause",
            "calls",
            "occupancy",
        ];
        let rows = self
            .agents
            .iter()
            .map(|a| {
                vec![
                    Cell::Text(a.agent.clone()),
                    Cell::Text(a.name.clone()),
                    Cell::Ms(Some(a.login_ms)),
                    Cell::Ms(Some(a.wait_ms)),
                    Cell::Ms(Some(a.talk_ms)),
                    Cell::Ms(Some(a.wrap_up_ms)),
                    Cell::Ms(Some(a.pause_ms)),
                    Cell::Count(a.calls),
                    Cell::Share(a.occupancy),
                ]
            })
            .collect();
        Rows { header, rows }
    }
}

impl CampaignReport {
    /// One `metric, value` row each: the totals, then statuses and dispositions.
    pub fn rows(&self) -> Rows {
        let mut rows = vec![
            ("from", Cell::Time(Some(self.range.from_ms))),
            ("to", Cell::Time(Some(self.range.to_ms))),
            ("attempts", Cell::Count(self.attempts)),
            ("ended", Cell::Count(self.ended)),
            ("answered", Cell::Count(self.answered)),
            ("aht", Cell::Ms(self.aht_ms)),
            ("bridged", Cell::Count(self.bridged)),
            ("asa", Cell::Ms(self.asa_ms)),
            ("dropped", Cell::Count(self.dropped)),
            ("drop_rate", Cell::Share(self.drop_rate)),
        ]
        .into_iter()
        .map(|(k, v)| vec![Cell::Text(k.into()), v])
        .collect::<Vec<_>>();
        for (prefix, counts) in [
            ("status", &self.statuses),
            ("disposition", &self.dispositions),
        ] {
            for (name, n) in counts {
                rows.push(vec![
                    Cell::Text(format!("{prefix}:{name}")),
                    Cell::Count(*n),
                ]);
            }
        }
        Rows {
            header: vec!["metric", "value"],
            rows,
        }
    }
}

impl LeadReport {
    pub fn rows(&self) -> Rows {
        let header = vec![
            "attempt",
            "number",
            "started",
            "answered",
            "ended",
            "result",
            "status",
            "agent",
            "disposition",
            "notes",
            "callback_at",
        ];
        let text = |t: &Option<String>| Cell::Text(t.clone().unwrap_or_default());
        let rows = self
            .attempts
            .iter()
            .map(|a| {
                vec![
                    Cell::Text(a.attempt.clone()),
                    Cell::Count(u64::from(a.number)),
                    Cell::Time(Some(a.started_ms)),
                    Cell::Time(a.answered_ms),
                    Cell::Time(a.ended_ms),
                    text(&a.result),
                    text(&a.status),
                    text(&a.agent),
                    text(&a.disposition),
                    text(&a.notes),
                    Cell::Time(a.callback_at_ms),
                ]
            })
            .collect();
        Rows { header, rows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Rows {
        Rows {
            header: vec!["agent", "talk", "occupancy"],
            rows: vec![
                vec![
                    Cell::Text("ann".into()),
                    Cell::Ms(Some(3_723_400)),
                    Cell::Share(Some(0.5172)),
                ],
                vec![
                    Cell::Text("bo, jr".into()),
                    Cell::Ms(Some(0)),
                    Cell::Share(None),
                ],
            ],
        }
    }

    #[test]
    fn a_table_aligns_and_reads_as_people_do() {
        assert_eq!(
            table(&rows()),
            "agent   talk     occupancy\nann     1:02:03  51.7 %\nbo, jr  0:00:00  -\n"
        );
    }

    #[test]
    fn csv_keeps_numbers_for_spreadsheets_and_quotes_what_needs_it() {
        assert_eq!(
            csv(&rows()).unwrap(),
            "agent,talk,occupancy\nann,3723.400,0.5172\n\"bo, jr\",0.000,\n"
        );
    }
}
