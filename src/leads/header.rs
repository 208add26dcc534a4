//! The header row of a lead file: which column is the phone, the name, the time zone,
//! and under which key every other column reaches scenarios as `lead.custom.<key>`.
//!
//! Lead files come from spreadsheets exported by people, so names are matched
//! forgivingly: trimmed, case-insensitively, and with spaces and punctuation read as
//! `_` (`Phone Number` is `phone_number`, `Time-Zone` is `time_zone`).

use super::ImportError;

/// Names of the phone column, in order of preference: with both `phone` and `mobile`,
/// `phone` is dialed and `mobile` becomes a custom column.
pub const PHONE_COLUMNS: [&str; 6] = ["phone", "number", "phone_number", "mobile", "msisdn", "tel"];

/// Names of the time zone column, in order of preference.
pub const TIME_ZONE_COLUMNS: [&str; 3] = ["time_zone", "timezone", "tz"];

/// Where a lead's name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    /// A `name` column.
    Column(usize),
    /// `first_name` and/or `last_name`, joined with a space.
    Parts {
        first: Option<usize>,
        last: Option<usize>,
    },
    /// No name column: every lead's name is empty.
    Missing,
}

/// What each column of a lead file means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The header's names, trimmed, as written.
    pub columns: Vec<String>,
    pub phone: usize,
    pub name: NameSource,
    pub time_zone: Option<usize>,
    /// Every other column, by index, with its key in `lead.custom`.
    pub custom: Vec<(usize, String)>,
}

impl Layout {
    /// Reads a header row, names in file order.
    pub fn new(columns: Vec<String>) -> Result<Self, ImportError> {
        let columns: Vec<String> = columns.into_iter().map(|c| c.trim().to_string()).collect();
        let matched: Vec<String> = columns.iter().map(|c| normalize(c)).collect();
        check_duplicates(&columns)?;

        let find = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| matched.iter().position(|m| m == name))
        };
        let phone = find(&PHONE_COLUMNS).ok_or_else(|| ImportError::NoPhoneColumn {
            found: columns.clone(),
        })?;
        let time_zone = find(&TIME_ZONE_COLUMNS);
        let name = match find(&["name"]) {
            Some(i) => NameSource::Column(i),
            None => match (find(&["first_name"]), find(&["last_name"])) {
                (None, None) => NameSource::Missing,
                (first, last) => NameSource::Parts { first, last },
            },
        };
        let used = |i: usize| {
            i == phone
                || time_zone == Some(i)
                || match name {
                    NameSource::Column(n) => n == i,
                    NameSource::Parts { first, last } => first == Some(i) || last == Some(i),
                    NameSource::Missing => false,
                }
        };

        let mut custom: Vec<(usize, String)> = Vec::new();
        for (i, column) in columns.iter().enumerate() {
            if used(i) {
                continue;
            }
            let key = custom_key(column, i);
            if let Some((j, _)) = custom.iter().find(|(_, k)| *k == key) {
                return Err(ImportError::KeyClash {
                    key,
                    first: columns[*j].clone(),
                    first_position: j + 1,
                    second: column.clone(),
                    second_position: i + 1,
                });
            }
            custom.push((i, key));
        }

        Ok(Layout {
            columns,
            phone,
            name,
            time_zone,
            custom,
        })
    }
}

/// Two columns whose names differ only in case or surrounding spaces would be
/// ambiguous both for matching and for the person reading an error report.
fn check_duplicates(columns: &[String]) -> Result<(), ImportError> {
    let lower: Vec<String> = columns.iter().map(|c| c.to_lowercase()).collect();
    for (i, column) in lower.iter().enumerate() {
        if column.is_empty() {
            continue;
        }
        if let Some(j) = lower[..i].iter().position(|earlier| earlier == column) {
            return Err(ImportError::DuplicateColumn {
                name: columns[i].clone(),
                first_position: j + 1,
                second_position: i + 1,
            });
        }
    }
    Ok(())
}

/// A header name as matched against the known column names: lowercase, every
/// character other than an ASCII letter or digit read as `_`.
pub fn normalize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Whether `name` can follow `lead.custom.` in an expression as it is.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `lead.custom` key of a column (`index` from 0).
///
/// A name that is already an identifier is kept as written, so `City` stays
/// `lead.custom.City`. Any other name is normalised ([`normalize`]): `Zip Code` →
/// `zip_code`, `2nd-phone` → `_2nd_phone`. A name with no ASCII letter or digit at all
/// (empty, or written in another script, such as `شهر`) becomes `column_<position>`,
/// because normalising it would leave only underscores.
pub fn custom_key(name: &str, index: usize) -> String {
    if is_identifier(name) {
        return name.to_string();
    }
    if !name.chars().any(|c| c.is_ascii_alphanumeric()) {
        return format!("column_{}", index + 1);
    }
    let key = normalize(name);
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{key}")
    } else {
        key
    }
}

/// The field delimiter of a file, guessed from its header line: the most frequent of
/// `,`, `;` and tab outside double quotes (`,` when none appears or on a tie, since
/// that is what "CSV" promises).
pub fn detect_delimiter(line: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let mut best = (b',', counts[0]);
    for (delimiter, count) in [(b';', counts[1]), (b'\t', counts[2])] {
        if count > best.1 {
            best = (delimiter, count);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(names: &[&str]) -> Result<Layout, ImportError> {
        Layout::new(names.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn roles_are_matched_forgivingly() {
        let l = layout(&["Phone Number", "NAME", "Time-Zone", "City"]).unwrap();
        assert_eq!(l.phone, 0);
        assert_eq!(l.name, NameSource::Column(1));
        assert_eq!(l.time_zone, Some(2));
        assert_eq!(l.custom, vec![(3, "City".to_string())]);
    }

    #[test]
    fn phone_columns_follow_the_order_of_preference() {
        let l = layout(&["mobile", "tel", "phone"]).unwrap();
        assert_eq!(l.phone, 2);
        let keys: Vec<_> = l.custom.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(keys, ["mobile", "tel"]);
    }

    #[test]
    fn name_from_parts_only_without_a_name_column() {
        let l = layout(&["phone", "first_name", "last_name"]).unwrap();
        assert_eq!(
            l.name,
            NameSource::Parts {
                first: Some(1),
                last: Some(2)
            }
        );
        assert!(l.custom.is_empty());

        let l = layout(&["phone", "first_name", "name"]).unwrap();
        assert_eq!(l.name, NameSource::Column(2));
        assert_eq!(l.custom, vec![(1, "first_name".to_string())]);

        let l = layout(&["phone"]).unwrap();
        assert_eq!(l.name, NameSource::Missing);
    }

    #[test]
    fn awkward_names_become_identifiers() {
        assert_eq!(custom_key("City", 0), "City");
        assert_eq!(custom_key("_x9", 0), "_x9");
        assert_eq!(custom_key("Zip Code", 0), "zip_code");
        assert_eq!(custom_key("e-mail", 0), "e_mail");
        assert_eq!(custom_key("2nd phone", 0), "_2nd_phone");
        assert_eq!(custom_key("", 3), "column_4");
        assert_eq!(custom_key("شهر", 1), "column_2");
        assert_eq!(custom_key("سن age", 1), "___age");
        for key in ["Zip Code", "2nd phone", "", "شهر", "a.b"] {
            assert!(is_identifier(&custom_key(key, 0)), "{key}");
        }
    }

    #[test]
    fn duplicates_and_clashes_are_errors() {
        let err = layout(&["phone", "City", " city"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "column `city` appears twice in the header (columns 2 and 3)"
        );
        let err = layout(&["phone", "zip code", "zip-code"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "columns `zip code` (2) and `zip-code` (3) would both be `lead.custom.zip_code`: rename one"
        );
        // Unnamed columns are numbered, not duplicates.
        let l = layout(&["phone", "", ""]).unwrap();
        let keys: Vec<_> = l.custom.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(keys, ["column_2", "column_3"]);
    }

    #[test]
    fn missing_phone_column_names_what_was_found() {
        let err = layout(&["name", "city"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no phone column: the header has `name`, `city`; name one of phone, number, \
             phone_number, mobile, msisdn, tel"
        );
    }

    #[test]
    fn delimiters() {
        assert_eq!(detect_delimiter(b"phone,name,city"), b',');
        assert_eq!(detect_delimiter(b"phone;name;city"), b';');
        assert_eq!(detect_delimiter(b"phone\tname\tcity"), b'\t');
        assert_eq!(detect_delimiter(b"phone;\"name,first\";city"), b';');
        assert_eq!(detect_delimiter(b"phone"), b',');
        assert_eq!(detect_delimiter(b"a,b;c"), b',');
    }
}
