//! Phone numbers as people type them into spreadsheets, normalised to E.164.
//!
//! The dialer hands numbers to Asterisk and the store deduplicates on them, so every
//! lead must carry one canonical spelling: E.164 (`+989121234567`). What arrives is
//! whatever an operator typed, so this module is lenient about punctuation and strict
//! about the result: a number is accepted only when `phonenumber` (Google's
//! libphonenumber metadata) says it is a *valid* number, not merely a plausible length.
//!
//! Before `phonenumber` sees the text, it is reduced to ASCII digits with an optional
//! leading `+`. That keeps letters out (vanity numbers and typos alike are rejected,
//! where `phonenumber` would map letters to digits) and keeps the parser's RFC 3966
//! code paths, which have had panics on crafted input, out of reach.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use phonenumber::PhoneNumber;
use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;

use super::phone_fast::FastPath;

/// Longest raw value quoted back in a reason, so a runaway cell cannot blow up the
/// error report.
const QUOTE_LIMIT: usize = 40;

/// Most digits a phone number can have: E.164 allows 15, national prefixes and an
/// international prefix add a few. Anything longer is rejected before parsing.
const MAX_DIGITS: usize = 20;

/// Parses an ISO 3166 alpha-2 region code (`IR`, `us`) into a region that
/// `phonenumber` has numbering metadata for.
pub fn parse_region(code: &str) -> Option<Id> {
    let id: Id = code.trim().to_ascii_uppercase().parse().ok()?;
    DATABASE.by_id(id.as_ref())?;
    Some(id)
}

/// Normalises a phone number typed by a person to E.164, or says why it cannot.
///
/// Accepted: spaces, dashes, dots and parentheses anywhere; a leading `+` or `00` for
/// international numbers; Persian and Arabic-Indic digits; national numbers, read with
/// `region` (`09121234567` with `IR` → `+989121234567`). Rejected, with a reason meant
/// for the person who wrote the file: empty cells, letters and other characters,
/// numbers that `phonenumber` does not consider valid.
///
/// `00` is read as the international prefix in every region (it is Iran's, and no
/// region's national numbers start with it), so `0044…` works from the US too.
///
/// For many numbers, keep a [`PhoneNormalizer`] instead.
pub fn normalize_phone(raw: &str, region: Id) -> Result<String, PhoneError> {
    PhoneNormalizer::new(region).normalize(raw)
}

/// Why a cell is not a phone number, in words for the person who wrote the file (the
/// number quoted, cut to a readable length).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("no phone number")]
    Empty,
    #[error("`{0}` has no digits")]
    NoDigits(String),
    #[error("`{0}` is too long for a phone number")]
    TooLong(String),
    #[error(
        "`{0}` looks like a number a spreadsheet turned into scientific notation: format the phone column as text"
    )]
    Scientific(String),
    #[error("`{text}` is not a phone number: {what} `{c}` is not allowed")]
    BadCharacter {
        text: String,
        what: &'static str,
        c: String,
    },
    #[error("`{0}` is not a valid phone number")]
    Invalid(String),
    #[error("`{text}` is not a valid phone number for region {region}")]
    InvalidInRegion { text: String, region: String },
}

/// [`normalize_phone`] for one default region, many numbers.
///
/// `phonenumber` takes about 5 µs a number, most of it in regular expressions behind
/// one process-wide lock, which caps an import near 140,000 rows a second on any
/// number of cores. So the usual shapes (the region's own numbers, national or
/// international, in regions whose metadata has no rewriting rules) take a fast path
/// that applies the same metadata patterns with its own compiled expressions; whatever
/// it is not sure of, and every number it would refuse, goes to `phonenumber`. The
/// fast path only ever accepts a number `phonenumber` accepts, with the same E.164
/// (see `phone_fast` and its tests).
#[derive(Clone)]
pub struct PhoneNormalizer {
    region: Id,
    fast: Option<Arc<FastPath>>,
}

impl PhoneNormalizer {
    pub fn new(region: Id) -> Self {
        // Compiling a region's patterns takes a millisecond or so: once per process.
        static FAST: OnceLock<Mutex<HashMap<Id, Option<Arc<FastPath>>>>> = OnceLock::new();
        let mut cache = FAST
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let fast = cache
            .entry(region)
            .or_insert_with(|| FastPath::new(region).map(Arc::new))
            .clone();
        PhoneNormalizer { region, fast }
    }

    /// See [`normalize_phone`].
    pub fn normalize(&self, raw: &str) -> Result<String, PhoneError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let digits = clean(trimmed)?;
        if let Some(e164) = self.fast.as_ref().and_then(|fast| fast.e164(&digits)) {
            return Ok(e164);
        }
        slow_path(&digits, self.region).ok_or_else(|| invalid(trimmed, &digits, self.region))
    }
}

/// `phonenumber`'s answer: the E.164 of a valid number.
pub(super) fn slow_path(digits: &Digits, region: Id) -> Option<String> {
    valid_number(digits, region).map(|number| e164(&number))
}

/// The digits of a phone number, with `+` in front when it was written
/// internationally (`+` or `00`).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Digits {
    pub international: bool,
    /// ASCII digits only, without the `+` or `00`.
    pub digits: String,
}

/// Reduces what a person typed to its digits, or says which character does not belong.
pub(super) fn clean(text: &str) -> Result<Digits, PhoneError> {
    let mut plus = false;
    let mut digits = String::with_capacity(text.len());
    for c in text.chars() {
        if let Some(d) = ascii_digit(c) {
            digits.push(d);
        } else if c == '+' && !plus && digits.is_empty() {
            plus = true;
        } else if !(c.is_whitespace() || matches!(c, '-' | '.' | '(' | ')')) {
            return Err(bad_character(text, c));
        }
        if digits.len() > MAX_DIGITS {
            return Err(PhoneError::TooLong(quote(text)));
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::NoDigits(quote(text)));
    }
    let international = plus || digits.starts_with("00");
    if !plus && international {
        digits.drain(..2);
    }
    Ok(Digits {
        international,
        digits,
    })
}

/// The reason for a character that has no place in a phone number, with a hint for
/// the usual spreadsheet accident.
fn bad_character(text: &str, c: char) -> PhoneError {
    if looks_scientific(text) {
        return PhoneError::Scientific(quote(text));
    }
    PhoneError::BadCharacter {
        text: quote(text),
        what: if c.is_alphabetic() {
            "a letter"
        } else {
            "a character"
        },
        c: c.escape_debug().to_string(),
    }
}

/// `9.89121E+11` and friends: what a spreadsheet makes of a long number column.
fn looks_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !exponent.is_empty()
        && exponent.chars().all(|c| c.is_ascii_digit())
}

/// ASCII, Persian (`۰`–`۹`) and Arabic-Indic (`٠`–`٩`) digits as ASCII.
fn ascii_digit(c: char) -> Option<char> {
    let value = match c {
        '0'..='9' => return Some(c),
        '\u{06F0}'..='\u{06F9}' => c as u32 - 0x06F0,
        '\u{0660}'..='\u{0669}' => c as u32 - 0x0660,
        _ => return None,
    };
    char::from_digit(value, 10)
}

/// Parses cleaned digits with `phonenumber`, reading national numbers with `region`;
/// `None` unless the number is valid.
fn valid_number(digits: &Digits, region: Id) -> Option<PhoneNumber> {
    let number = if digits.international {
        let mut text = String::with_capacity(digits.digits.len() + 1);
        text.push('+');
        text.push_str(&digits.digits);
        phonenumber::parse(None, &text).ok()?
    } else {
        phonenumber::parse(Some(region), &digits.digits).ok()?
    };
    phonenumber::is_valid(&number).then_some(number)
}

/// The reason for a number `phonenumber` refused.
fn invalid(text: &str, digits: &Digits, region: Id) -> PhoneError {
    if digits.international {
        PhoneError::Invalid(quote(text))
    } else {
        PhoneError::InvalidInRegion {
            text: quote(text),
            region: region.as_ref().to_string(),
        }
    }
}

/// `+<country code><national number>`: what `phonenumber`'s E.164 formatter writes,
/// without the formatting rules it looks up (and can fail on) first.
fn e164(number: &PhoneNumber) -> String {
    format!("+{}{}", number.code().value(), number.national())
}

/// `text`, cut to [`QUOTE_LIMIT`] characters with an ellipsis.
pub(crate) fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ir(raw: &str) -> Result<String, String> {
        normalize_phone(raw, Id::IR).map_err(|e| e.to_string())
    }

    fn us(raw: &str) -> Result<String, String> {
        normalize_phone(raw, Id::US).map_err(|e| e.to_string())
    }

    #[test]
    fn iranian_mobile_numbers_in_every_usual_spelling() {
        for raw in [
            "09121234567",
            "0912 123 4567",
            "0912-123-4567",
            "(0912) 123.4567",
            "+989121234567",
            "+98 912 123 4567",
            "00989121234567",
            "9121234567",
            " ۰۹۱۲۱۲۳۴۵۶۷ ",
            "٠٩١٢١٢٣٤٥٦٧",
        ] {
            assert_eq!(ir(raw).as_deref(), Ok("+989121234567"), "{raw}");
        }
    }

    #[test]
    fn us_numbers_in_every_usual_spelling() {
        for raw in [
            "(415) 555-2671",
            "415.555.2671",
            "4155552671",
            "1 415 555 2671",
            "+1 (415) 555-2671",
            "001 415 555 2671",
        ] {
            assert_eq!(us(raw).as_deref(), Ok("+14155552671"), "{raw}");
        }
    }

    #[test]
    fn international_numbers_ignore_the_default_region() {
        assert_eq!(us("+98 912 123 4567").as_deref(), Ok("+989121234567"));
        assert_eq!(ir("+1 415 555 2671").as_deref(), Ok("+14155552671"));
        assert_eq!(ir("0044 20 7946 0958").as_deref(), Ok("+442079460958"));
    }

    #[test]
    fn reasons_name_the_value_and_the_region() {
        assert_eq!(ir("").unwrap_err(), "no phone number");
        assert_eq!(ir("   ").unwrap_err(), "no phone number");
        assert_eq!(
            ir("12").unwrap_err(),
            "`12` is not a valid phone number for region IR"
        );
        assert_eq!(
            us("+1 555 0100").unwrap_err(),
            "`+1 555 0100` is not a valid phone number"
        );
        assert_eq!(
            ir("0912abc4567").unwrap_err(),
            "`0912abc4567` is not a phone number: a letter `a` is not allowed"
        );
        assert_eq!(
            us("1-800-FLOWERS").unwrap_err(),
            "`1-800-FLOWERS` is not a phone number: a letter `F` is not allowed"
        );
        assert_eq!(
            ir("0912#123").unwrap_err(),
            "`0912#123` is not a phone number: a character `#` is not allowed"
        );
        assert_eq!(ir("--").unwrap_err(), "`--` has no digits");
        assert_eq!(
            ir("9.89121E+11").unwrap_err(),
            "`9.89121E+11` looks like a number a spreadsheet turned into scientific \
             notation: format the phone column as text"
        );
        assert_eq!(
            ir("1234567890123456789012345").unwrap_err(),
            "`1234567890123456789012345` is too long for a phone number"
        );
    }

    #[test]
    fn plus_only_counts_in_front() {
        assert!(ir("0912+1234567").is_err());
        assert!(ir("++989121234567").is_err());
    }

    #[test]
    fn long_values_are_cut_in_reasons() {
        let raw = "a".repeat(1000);
        let reason = ir(&raw).unwrap_err();
        assert!(reason.len() < 120, "{reason}");
        assert!(reason.contains('…'));
    }

    #[test]
    fn regions() {
        assert_eq!(parse_region("IR"), Some(Id::IR));
        assert_eq!(parse_region(" us "), Some(Id::US));
        assert_eq!(parse_region("XX"), None);
        assert_eq!(parse_region(""), None);
        assert_eq!(parse_region("Iran"), None);
    }

    #[test]
    fn a_trunk_zero_after_the_country_code_is_one_number() {
        assert_eq!(
            normalize_phone("+9809121234567", Id::IR).as_deref(),
            Ok("+989121234567")
        );
    }
}
