//! CSV records as raw bytes, each with the line it starts on.
//!
//! The csv crate's `Reader` gives a record the position where it started *looking*
//! for it, which is before any blank lines it skipped, so every row after a blank line
//! would be reported a line or more early. People fix rejected rows by their line
//! number, so this drives `csv_core` directly and skips blank lines itself, counting
//! them. Line breaks must already be `\n` (see `csv_import::Newlines`).

use std::io::{self, BufRead, BufReader, Read};

/// Reads one record at a time into reused buffers.
pub(crate) struct Rows<R> {
    core: csv_core::Reader,
    input: BufReader<R>,
    /// Line of the next unread byte, from 1.
    line: u64,
    /// The current record's fields, back to back; `ends[i]` is where field `i` ends.
    fields: Vec<u8>,
    ends: Vec<usize>,
    len: usize,
    /// Lines the current record starts and ends on.
    first_line: u64,
    last_line: u64,
    /// The current record ran to the end of the input with a quote still open.
    open_quote: bool,
    /// The current record was longer than `MAX_RECORD_BYTES` (or had more than
    /// `MAX_FIELDS` fields): only its start is kept, as one field.
    oversized: bool,
    delimiter: u8,
}

/// The most bytes of one record kept in memory: a lead row is a few hundred bytes, and
/// a quote left open early in a big file would otherwise pull the rest of the file
/// into one record.
pub(crate) const MAX_RECORD_BYTES: usize = 1 << 20;
/// The most fields of one record kept.
const MAX_FIELDS: usize = 10_000;

impl<R: Read> Rows<R> {
    pub fn new(input: R, delimiter: u8) -> Self {
        Rows {
            core: csv_core::ReaderBuilder::new().delimiter(delimiter).build(),
            input: BufReader::with_capacity(64 * 1024, input),
            line: 1,
            fields: vec![0; 1024],
            ends: vec![0; 32],
            len: 0,
            first_line: 0,
            last_line: 0,
            open_quote: false,
            oversized: false,
            delimiter,
        }
    }

    /// Reads the next record; `false` at the end of the input.
    pub fn read(&mut self) -> io::Result<bool> {
        self.skip_blank_lines()?;
        self.first_line = self.line;
        let (mut out, mut end) = (0, 0);
        let mut quotes = 0;
        self.oversized = false;
        // Whether the last byte of the record read so far is a line break.
        let mut at_line_end = false;
        loop {
            let input = fill_buf(&mut self.input)?;
            let (result, nin, nout, nend) =
                self.core
                    .read_record(input, &mut self.fields[out..], &mut self.ends[end..]);
            let consumed = &input[..nin];
            self.line += count(consumed, b'\n');
            quotes += count(consumed, b'"');
            // A record ends with its line break, read in the same call, unless the
            // input ends first (the call with no input).
            let terminated = consumed.last() == Some(&b'\n');
            if let Some(&last) = consumed.last() {
                at_line_end = last == b'\n';
            }
            self.input.consume(nin);
            out += nout;
            end += nend;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull if self.fields.len() >= MAX_RECORD_BYTES => {
                    // Keep the start; parse the rest into the space after it, over and
                    // over, only to find where the record ends.
                    self.oversized = true;
                    out = MAX_RECORD_BYTES / 2;
                }
                csv_core::ReadRecordResult::OutputFull => {
                    let grown = (self.fields.len() * 2).min(MAX_RECORD_BYTES);
                    self.fields.resize(grown, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull if self.ends.len() >= MAX_FIELDS => {
                    self.oversized = true;
                    end = MAX_FIELDS / 2;
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let grown = (self.ends.len() * 2).min(MAX_FIELDS);
                    self.ends.resize(grown, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.len = end;
                    if self.oversized {
                        // One field: the first half megabyte, whole, for the error report.
                        self.len = 1;
                        self.ends[0] = MAX_RECORD_BYTES / 2;
                    }
                    self.last_line = self.line - u64::from(at_line_end);
                    // Only an open quote reaches the end of the input, and a
                    // well-formed record has its quotes in pairs. (A stray quote
                    // inside an unquoted value also makes an odd count, hence the end
                    // of the input is required too.)
                    self.open_quote = !terminated && quotes % 2 == 1;
                    return Ok(true);
                }
                csv_core::ReadRecordResult::End => {
                    self.len = 0;
                    return Ok(false);
                }
            }
        }
    }

    /// Consumes the empty lines before a record; `csv_core` would skip them without a
    /// trace. Lines of spaces are records, left to the caller.
    fn skip_blank_lines(&mut self) -> io::Result<()> {
        loop {
            let input = fill_buf(&mut self.input)?;
            let blank = input.iter().take_while(|&&b| b == b'\n').count();
            let whole = blank == input.len();
            self.line += blank as u64;
            self.input.consume(blank);
            if !whole || blank == 0 {
                return Ok(());
            }
        }
    }

    /// The line the current record starts on.
    pub fn first_line(&self) -> u64 {
        self.first_line
    }

    /// The line the current record ends on (later than the first when a quoted value
    /// holds line breaks).
    pub fn last_line(&self) -> u64 {
        self.last_line
    }

    /// Whether the current record ran to the end of the input inside a quoted value:
    /// a quote opened and never closed, which makes every line after it one value.
    pub fn open_quote(&self) -> bool {
        self.open_quote
    }

    /// The line of the next unread byte: where a read failure happened.
    pub fn next_line(&self) -> u64 {
        self.line
    }

    /// Whether the current record was too long to keep (only its start is there).
    pub fn oversized(&self) -> bool {
        self.oversized
    }

    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Number of fields in the current record.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The current record's fields, unquoted, as bytes.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let ends = &self.ends[..self.len];
        (0..ends.len()).map(move |i| {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            &self.fields[start..ends[i]]
        })
    }

    pub fn get_ref(&self) -> &R {
        self.input.get_ref()
    }
}

/// `BufRead::fill_buf`, retried when interrupted by a signal.
fn fill_buf<R: Read>(input: &mut BufReader<R>) -> io::Result<&[u8]> {
    loop {
        match input.fill_buf() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Borrow checker: return a fresh borrow rather than the one matched on.
            Ok(_) => return input.fill_buf(),
            Err(e) => return Err(e),
        }
    }
}

fn count(bytes: &[u8], byte: u8) -> u64 {
    bytes.iter().filter(|&&b| b == byte).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_quotes_are_told_apart() {
        let open = |text: &str| {
            let mut rows = Rows::new(text.as_bytes(), b',');
            let mut out = Vec::new();
            while rows.read().unwrap() {
                out.push(rows.open_quote());
            }
            out
        };
        assert_eq!(open("a,\"b\nc,d\ne\n"), [true]);
        assert_eq!(open("a,\"b\"\"\nc\",d\n"), [false]);
        assert_eq!(open("a,\"b\nc\""), [false]);
        assert_eq!(open("a,b\"c\nd\n"), [false, false]);
    }

    /// (first line, last line, fields) of every record.
    fn records(text: &str) -> Vec<(u64, u64, Vec<String>)> {
        let mut rows = Rows::new(text.as_bytes(), b',');
        let mut out = Vec::new();
        while rows.read().unwrap() {
            let fields = rows
                .iter()
                .map(|f| String::from_utf8(f.to_vec()).unwrap())
                .collect();
            out.push((rows.first_line(), rows.last_line(), fields));
        }
        out
    }

    #[test]
    fn lines_count_blank_lines_and_quoted_breaks() {
        assert_eq!(
            records("a,b\n\n\nc,\"d\ne\"\nf\n\n"),
            [
                (1, 1, vec!["a".into(), "b".into()]),
                (4, 5, vec!["c".into(), "d\ne".into()]),
                (6, 6, vec!["f".into()]),
            ]
        );
        assert_eq!(records("\n\na"), [(3, 3, vec!["a".to_string()])]);
        assert_eq!(
            records("a\n\"b\nc\""),
            [
                (1, 1, vec!["a".to_string()]),
                (2, 3, vec!["b\nc".to_string()])
            ]
        );
        assert_eq!(records(""), []);
        assert_eq!(records("\n\n\n"), []);
    }

    #[test]
    fn large_records_grow_the_buffers() {
        let wide = vec!["x".repeat(3000); 100].join(",");
        let text = format!("{wide}\n{wide}\n");
        let recs = records(&text);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].0, 2);
        assert_eq!(recs[1].2.len(), 100);
        assert!(recs[1].2.iter().all(|f| f.len() == 3000));
    }
}
