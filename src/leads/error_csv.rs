//! The error report of an import: every rejected row with its line and reason, as a
//! CSV the person who wrote the file can open beside it, fix, and import again.

use std::io::{self, Write};

use super::RejectedRow;

/// Writes `line,reason,<the file's columns...>` and then one row per [`RejectedRow`],
/// its fields as they were in the file. Always comma-separated, whatever the input
/// used. A rejected row with the wrong number of fields is written with the fields it
/// had, so the report's rows may be longer or shorter than its header.
pub struct ErrorCsv<W: Write> {
    csv: csv::Writer<W>,
}

impl<W: Write> ErrorCsv<W> {
    /// Starts a report for a file with these columns ([`super::LeadReader::columns`]).
    pub fn new(w: W, columns: &[String]) -> io::Result<Self> {
        let mut csv = csv::WriterBuilder::new().flexible(true).from_writer(w);
        csv.write_record(
            ["line", "reason"]
                .into_iter()
                .chain(columns.iter().map(String::as_str)),
        )?;
        Ok(ErrorCsv { csv })
    }

    /// Adds one rejected row.
    pub fn write(&mut self, row: &RejectedRow) -> io::Result<()> {
        let line = row.line.to_string();
        self.csv.write_record(
            [line.as_str(), row.reason.as_str()]
                .into_iter()
                .chain(row.fields.iter().map(String::as_str)),
        )?;
        Ok(())
    }

    /// Flushes the report and hands back the writer.
    pub fn finish(self) -> io::Result<W> {
        self.csv.into_inner().map_err(|e| e.into_error())
    }
}
