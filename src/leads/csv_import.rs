//! The streaming CSV lead reader: a file of any size in, one validated [`LeadRecord`]
//! or one [`RejectedRow`] out per row, in file order, in constant memory.
//!
//! A bad row never stops an import: it comes back as a `RejectedRow` with its line
//! and a reason, for the error report ([`super::ErrorCsv`]). Only problems that make
//! the whole file unusable are [`ImportError`]s: no header, no phone column, an
//! ambiguous header, or input that cannot be read.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Chain, Cursor, Read};
use std::iter::FusedIterator;
use std::sync::OnceLock;

use jiff::tz::TimeZoneDatabase;
use serde::{Deserialize, Serialize};

use super::header::{self, Layout, NameSource, PHONE_COLUMNS};
use super::phone::{self, PhoneNormalizer, parse_region};
use super::rows::Rows;

/// One valid row of a lead file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadRecord {
    /// 1-based line in the file where the row starts (the header is line 1).
    pub line: u64,
    /// E.164, e.g. `+989121234567`.
    pub phone: String,
    /// May be empty.
    pub name: String,
    /// A canonical IANA name (`asia/tehran` in the file is `Asia/Tehran` here).
    pub time_zone: Option<String>,
    /// Every other column, by its key (see [`LeadReader::custom_keys`]); values trimmed,
    /// empty cells kept as empty strings so `lead.custom.<key>` is always defined.
    pub custom: BTreeMap<String, String>,
}

impl LeadRecord {
    /// The lead as a call sees it (`lead.*` in scenarios); no time zone is `""`.
    pub fn into_lead(self) -> crate::core::call::Lead {
        crate::core::call::Lead {
            name: self.name,
            phone: self.phone,
            timezone: self.time_zone.unwrap_or_default(),
            custom: self.custom,
        }
    }
}

/// A row that cannot become a lead, kept whole for the error report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// 1-based line in the file where the row starts.
    pub line: u64,
    /// Why, for the person who fixes the file.
    pub reason: String,
    /// The row's fields as written (not trimmed; invalid UTF-8 replaced with `�`).
    pub fields: Vec<String>,
}

/// A problem with the file as a whole: nothing can be imported from it.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is empty: the first line must be a header naming the columns")]
    NoHeader,
    #[error(
        "no phone column: the header has {}; name one of {}",
        list(found),
        PHONE_COLUMNS.join(", ")
    )]
    NoPhoneColumn { found: Vec<String> },
    #[error(
        "column `{name}` appears twice in the header (columns {first_position} and {second_position})"
    )]
    DuplicateColumn {
        name: String,
        first_position: usize,
        second_position: usize,
    },
    #[error(
        "columns `{first}` ({first_position}) and `{second}` ({second_position}) would both be `lead.custom.{key}`: rename one"
    )]
    KeyClash {
        key: String,
        first: String,
        first_position: usize,
        second: String,
        second_position: usize,
    },
    #[error("a quote opened in the header (line {line}) is never closed")]
    HeaderOpenQuote { line: u64 },
    #[error(
        "the file is UTF-16 (as a spreadsheet's \"Unicode text\" export is): save it as CSV UTF-8"
    )]
    Utf16,
    #[error(
        "column {position} of the header (line {line}) is not valid UTF-8: save the file as CSV UTF-8"
    )]
    HeaderNotUtf8 { line: u64, position: usize },
    #[error("unknown region `{0}`: expected an ISO 3166 alpha-2 code such as IR or US")]
    UnknownRegion(String),
    #[error("cannot read line {line} of the leads: {source}")]
    Read {
        line: u64,
        #[source]
        source: io::Error,
    },
}

/// `` `a`, `b` `` for an error message.
fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "no columns".to_string();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How far the header line is searched for before the delimiter is guessed from what
/// was read; a header is never this long, a file without line breaks may be.
const HEADER_SCAN_LIMIT: usize = 1 << 20;

/// Distinct time zone spellings remembered per import; a file has a handful, this
/// only bounds a hostile one.
const ZONE_CACHE_LIMIT: usize = 4096;

/// What the record reader reads: the bytes read ahead to find the header line, then the
/// rest of the input, counted for progress, with line breaks made `\n`.
type Input<R> = Chain<Cursor<Vec<u8>>, Newlines<Counting<R>>>;

/// Reads leads from CSV, one row at a time. See the module documentation.
///
/// Header names are trimmed and matched case-insensitively, with spaces and punctuation
/// read as `_`: the phone column is the first of `phone`, `number`, `phone_number`,
/// `mobile`, `msisdn`, `tel` that exists (in that order of preference); the name is
/// `name`, else `first_name` and `last_name` joined by a space; the time zone is
/// `time_zone`, `timezone` or `tz`. Every other column is custom, under its name as
/// written when that is an identifier and normalised otherwise (see
/// [`header::custom_key`]).
///
/// The delimiter (`,`, `;` or tab) is guessed from the header line, a UTF-8 byte order
/// mark is skipped, and blank rows (every field empty or spaces) are skipped.
pub struct LeadReader<R: Read> {
    rows: Rows<Input<R>>,
    layout: Layout,
    phones: PhoneNormalizer,
    done: bool,
    zones: HashMap<String, Option<String>>,
}

impl<R: Read> LeadReader<R> {
    /// Reads and checks the header. `default_region` (ISO 3166 alpha-2, `IR`, `US`)
    /// reads phone numbers written without a country code.
    pub fn new(input: R, default_region: &str) -> Result<Self, ImportError> {
        let region = parse_region(default_region)
            .ok_or_else(|| ImportError::UnknownRegion(default_region.to_string()))?;
        let mut input = Newlines {
            inner: Counting {
                inner: input,
                count: 0,
            },
            after_cr: false,
        };
        let (prefix, delimiter) = read_header_line(&mut input)?;
        let mut rows = Rows::new(Cursor::new(prefix).chain(input), delimiter);
        loop {
            if !read_record(&mut rows)? {
                return Err(ImportError::NoHeader);
            }
            if !is_blank_record(&rows) {
                break;
            }
        }
        let line = rows.first_line();
        if rows.open_quote() && rows.last_line() > line {
            return Err(ImportError::HeaderOpenQuote { line });
        }
        let columns = rows
            .iter()
            .enumerate()
            .map(|(i, field)| match std::str::from_utf8(field) {
                Ok(name) => Ok(name.trim().to_string()),
                Err(_) => Err(ImportError::HeaderNotUtf8 {
                    line,
                    position: i + 1,
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LeadReader {
            layout: Layout::new(columns)?,
            rows,
            phones: PhoneNormalizer::new(region),
            done: false,
            zones: HashMap::new(),
        })
    }

    /// The header's column names, trimmed, as written (the error report repeats them).
    pub fn columns(&self) -> &[String] {
        &self.layout.columns
    }

    /// The keys of the custom columns, in file order: what scenarios can use as
    /// `lead.custom.<key>`.
    pub fn custom_keys(&self) -> impl Iterator<Item = &str> {
        self.layout.custom.iter().map(|(_, key)| key.as_str())
    }

    /// Bytes taken from the input so far, for a progress bar: it runs a little ahead of
    /// the rows returned (read-ahead) and equals the input's size at the end.
    pub fn bytes_read(&self) -> u64 {
        self.rows.get_ref().get_ref().1.inner.count
    }
}

/// Reads the next CSV record; `false` at the end.
fn read_record(rows: &mut Rows<impl Read>) -> Result<bool, ImportError> {
    rows.read().map_err(|source| ImportError::Read {
        line: rows.next_line(),
        source,
    })
}

impl<R: Read> Iterator for LeadReader<R> {
    /// The outer `Err` is a read failure that ends the import (nothing follows it);
    /// the inner result is the row's.
    type Item = Result<Result<LeadRecord, RejectedRow>, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match read_record(&mut self.rows) {
                Ok(true) => {
                    if let Some(row) =
                        validate(&self.layout, &self.phones, &mut self.zones, &self.rows)
                    {
                        return Some(Ok(row));
                    }
                }
                Ok(false) => self.done = true,
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
        None
    }
}

impl<R: Read> FusedIterator for LeadReader<R> {}

/// A line inside a quoted value that has as many delimiters as a row has: a row that a
/// stray quote swallowed, which would otherwise vanish without a trace. (A value may
/// hold a line break, an address say, but rarely a whole row's worth of delimiters.)
fn swallowed_row(record: &Rows<impl Read>, columns: usize) -> Option<u64> {
    if record.last_line() == record.first_line() || columns < 2 {
        return None;
    }
    let delimiter = record.delimiter();
    // Lines are counted from the record's first; a field's inner lines start after its
    // line breaks.
    let mut line = record.first_line();
    for field in record.iter() {
        let mut inner = field.split(|&b| b == b'\n');
        inner.next();
        for text in inner {
            line += 1;
            if text.iter().filter(|&&b| b == delimiter).count() + 1 >= columns {
                return Some(line);
            }
        }
    }
    None
}

/// Turns one record into a lead or a rejection; `None` for a blank row.
fn validate(
    layout: &Layout,
    phones: &PhoneNormalizer,
    zones: &mut HashMap<String, Option<String>>,
    record: &Rows<impl Read>,
) -> Option<Result<LeadRecord, RejectedRow>> {
    if is_blank_record(record) {
        return None;
    }
    let line = record.first_line();
    let reject = |reason: String| {
        Some(Err(RejectedRow {
            line,
            reason,
            fields: record
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect(),
        }))
    };

    if record.oversized() {
        return reject(format!(
            "lines {line} to {} make one row longer than {} MiB: a quote left open?",
            record.last_line(),
            super::rows::MAX_RECORD_BYTES >> 20
        ));
    }
    if record.open_quote() && record.last_line() > line {
        return reject(format!(
            "a quote opened in this row is never closed, so lines {line} to {} were read as one row",
            record.last_line()
        ));
    }
    if let Some(swallowed) = swallowed_row(record, layout.columns.len()) {
        return reject(format!(
            "a quoted value runs from line {line} to line {}, taking in line {swallowed}, which \
             looks like a row of its own: a stray quote? (rows from line {line} to {} are not imported)",
            record.last_line(),
            record.last_line()
        ));
    }
    let expected = layout.columns.len();
    if record.len() != expected {
        let fields = record.len();
        let plural = if fields == 1 { "field" } else { "fields" };
        return reject(format!("{fields} {plural}, the header has {expected}"));
    }
    let mut values: Vec<&str> = Vec::with_capacity(expected);
    for (i, field) in record.iter().enumerate() {
        match std::str::from_utf8(field) {
            Ok(value) => values.push(value.trim()),
            Err(_) => {
                return reject(format!(
                    "{} is not valid UTF-8: save the file as CSV UTF-8",
                    column_label(&layout.columns, i)
                ));
            }
        }
    }

    let phone = match phones.normalize(values[layout.phone]) {
        Ok(phone) => phone,
        Err(reason) => return reject(reason.to_string()),
    };
    let time_zone = match layout.time_zone.map(|i| values[i]) {
        None | Some("") => None,
        Some(zone) => match canonical_zone(zones, zone) {
            Some(name) => Some(name),
            None => return reject(format!("unknown time zone `{}`", phone::quote(zone))),
        },
    };
    let name = match layout.name {
        NameSource::Column(i) => values[i].to_string(),
        NameSource::Parts { first, last } => {
            let parts = [first, last].map(|i| i.map_or("", |i| values[i]));
            parts
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        }
        NameSource::Missing => String::new(),
    };
    let custom = layout
        .custom
        .iter()
        .map(|(i, key)| (key.clone(), values[*i].to_string()))
        .collect();
    Some(Ok(LeadRecord {
        line,
        phone,
        name,
        time_zone,
        custom,
    }))
}

/// `column `city` (3)`, or `column 3` when the header left it unnamed.
fn column_label(columns: &[String], index: usize) -> String {
    match columns.get(index).map(String::as_str) {
        None | Some("") => format!("column {}", index + 1),
        Some(name) => format!("column `{name}` ({})", index + 1),
    }
}

/// The canonical IANA name of a time zone written in a file, if it is one.
///
/// Checked against jiff's bundled copy of the IANA database, not the system's
/// `/usr/share/zoneinfo` that `TimeZone::get` prefers: the answer must not depend on
/// which machine runs the import, and it must not read files once per row.
fn canonical_zone(cache: &mut HashMap<String, Option<String>>, zone: &str) -> Option<String> {
    if let Some(known) = cache.get(zone) {
        return known.clone();
    }
    static BUNDLED: OnceLock<TimeZoneDatabase> = OnceLock::new();
    let db = BUNDLED.get_or_init(TimeZoneDatabase::bundled);
    let canonical = db
        .get(zone)
        .ok()
        .map(|tz| tz.iana_name().unwrap_or(zone).to_string());
    if cache.len() < ZONE_CACHE_LIMIT {
        cache.insert(zone.to_string(), canonical.clone());
    }
    canonical
}

/// Every field empty or whitespace: a spreadsheet's trailing `,,,` rows.
fn is_blank_record(record: &Rows<impl Read>) -> bool {
    record.iter().all(is_blank)
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// Reads up to the end of the first non-blank line (the header), skipping a UTF-8 byte
/// order mark, and guesses the delimiter from that line. Returns the bytes read, which
/// the csv reader then reads again.
fn read_header_line<R: Read>(input: &mut R) -> Result<(Vec<u8>, u8), ImportError> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut bom_checked = false;
    let mut line_start = 0;
    let mut scanned = 0;
    let mut lines = 1;
    loop {
        let n = loop {
            match input.read(&mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ImportError::Read {
                        line: lines,
                        source,
                    });
                }
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        let eof = n == 0;
        if !bom_checked {
            if buf.len() < BOM.len() && !eof {
                continue;
            }
            if buf.starts_with(BOM) {
                buf.drain(..BOM.len());
            } else if buf.starts_with(b"\xFF\xFE") || buf.starts_with(b"\xFE\xFF") {
                return Err(ImportError::Utf16);
            }
            bom_checked = true;
        }
        while let Some(offset) = buf[scanned..].iter().position(|&b| b == b'\n') {
            let end = scanned + offset;
            if !is_blank(&buf[line_start..end]) {
                let delimiter = header::detect_delimiter(&buf[line_start..end]);
                return Ok((buf, delimiter));
            }
            line_start = end + 1;
            scanned = end + 1;
            lines += 1;
        }
        scanned = buf.len();
        if eof || buf.len() - line_start >= HEADER_SCAN_LIMIT {
            let delimiter = header::detect_delimiter(&buf[line_start..]);
            return Ok((buf, delimiter));
        }
    }
}

/// Turns `\r\n` and a lone `\r` into `\n`.
///
/// The csv crate accepts all three line breaks but counts only `\n` for line numbers,
/// so a file saved with old Mac line breaks (`\r`, as Excel for Mac's "CSV
/// (Macintosh)" still writes) would have every row on line 1. A side effect: a line
/// break inside a quoted value is always `\n`.
struct Newlines<R> {
    inner: R,
    /// The last byte handed out was a `\r` (now `\n`): a `\n` right after it is dropped.
    after_cr: bool,
}

impl<R: Read> Read for Newlines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut kept = 0;
            for i in 0..n {
                let b = buf[i];
                if b == b'\n' && self.after_cr {
                    self.after_cr = false;
                    continue;
                }
                self.after_cr = b == b'\r';
                buf[kept] = if self.after_cr { b'\n' } else { b };
                kept += 1;
            }
            // A read of a lone `\n` after `\r` leaves nothing, which is not the end.
            if kept > 0 {
                return Ok(kept);
            }
        }
    }
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, as a pipe or socket may.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn header_line_survives_tiny_reads_and_a_bom() {
        let text = b"\xEF\xBB\xBF\n  \nphone;name\n0912;a\n";
        for step in 1..8 {
            let mut input = Trickle(text, step);
            let (buf, delimiter) = read_header_line(&mut input).unwrap();
            assert_eq!(delimiter, b';');
            assert!(buf.starts_with(b"\n  \nphone;name\n"), "{step}");
        }
    }

    #[test]
    fn every_line_break_counts_as_one_line() {
        for (text, step) in [
            (&b"a\r\nb\rc\nd\r\r\ne"[..], 100),
            (b"a\r\nb\rc\nd\r\r\ne", 1),
            (b"a\r\nb\rc\nd\r\r\ne", 2),
        ] {
            let mut out = Vec::new();
            let mut input = Newlines {
                inner: Trickle(text, step),
                after_cr: false,
            };
            input.read_to_end(&mut out).unwrap();
            assert_eq!(out, b"a\nb\nc\nd\n\ne", "{step}");
        }
    }

    #[test]
    fn old_mac_line_breaks_keep_line_numbers() {
        let text = "phone,name\r09121234567,a\r\r12,b\r";
        let rows: Vec<_> = LeadReader::new(text.as_bytes(), "IR")
            .unwrap()
            .map(|row| match row.unwrap() {
                Ok(lead) => lead.line,
                Err(rejected) => rejected.line,
            })
            .collect();
        assert_eq!(rows, [2, 4]);
    }

    #[test]
    fn bytes_read_reaches_the_input_size() {
        let text = "phone,name\n09121234567,a\n09121234568,b\n";
        let mut reader = LeadReader::new(text.as_bytes(), "IR").unwrap();
        assert!(reader.bytes_read() > 0);
        assert_eq!(reader.by_ref().count(), 2);
        assert_eq!(reader.bytes_read(), text.len() as u64);
    }

    #[test]
    fn time_zones_are_canonical_and_cached() {
        let mut cache = HashMap::new();
        assert_eq!(
            canonical_zone(&mut cache, "asia/tehran").as_deref(),
            Some("Asia/Tehran")
        );
        assert_eq!(canonical_zone(&mut cache, "UTC").as_deref(), Some("UTC"));
        assert_eq!(canonical_zone(&mut cache, "Mars/Olympus"), None);
        assert_eq!(canonical_zone(&mut cache, "+03:30"), None);
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn lead_for_a_call() {
        let record = LeadRecord {
            line: 2,
            phone: "+989121234567".into(),
            name: "Sara".into(),
            time_zone: None,
            custom: BTreeMap::new(),
        };
        let lead = record.into_lead();
        assert_eq!(lead.timezone, "");
        assert_eq!(lead.phone, "+989121234567");
    }
}
