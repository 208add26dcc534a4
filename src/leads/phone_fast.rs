//! The fast path of phone normalisation: a region's own numbers, checked against the
//! region's metadata patterns with regular expressions compiled here.
//!
//! Why: `phonenumber` 0.3 keeps every metadata pattern in one regex cache behind a
//! process-wide mutex and hashes the pattern's text on each use, so a number costs
//! about 5 µs and threads do not help. The patterns themselves are quick.
//!
//! The rule this module keeps: [`FastPath::e164`] returns `Some` only for a number that
//! `phonenumber::parse` followed by `is_valid` accepts, with the same E.164. It does so
//! by following `phonenumber`'s own steps (parser/helper.rs, validator.rs of 0.3.10)
//! for the cases where they are plain, and giving up (`None`, so the caller asks
//! `phonenumber`) wherever a step could do more:
//!
//! - the region has a national-prefix parsing pattern or rewrite rule (Argentina,
//!   Brazil, Britain among others);
//! - the region is not the first listed for its country code, or shares the code with
//!   other regions and has leading-digit rules (then another region might claim it);
//! - a national number starts with the international dialling prefix, or with the
//!   country code (which `phonenumber` may strip), or with the national prefix twice;
//! - an international number's country code is not the region's, or its national part
//!   starts with the national prefix or a `0`;
//! - the national significant number is outside 2..=16 digits or starts with `0`.
//!
//! Validity is `phonenumber`'s: the general pattern matches and so does one of the
//! type patterns, each with its possible lengths, a match counting only at position 0
//! (`Descriptor::is_match`). The tests compare both paths on every region's example
//! numbers and on random digits.

use phonenumber::country::Id;
use phonenumber::metadata::{DATABASE, Descriptor};
use regex::{Regex, RegexBuilder};

use super::phone::Digits;

/// One metadata pattern, as `Descriptor::is_match` applies it.
struct Pattern {
    regex: Regex,
    lengths: Vec<u16>,
}

impl Pattern {
    fn new(descriptor: &Descriptor) -> Option<Self> {
        Some(Pattern {
            regex: compile(descriptor.national_number().as_str())?,
            lengths: descriptor.possible_length().to_vec(),
        })
    }

    fn is_match(&self, value: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(value.len() as u16)))
            && starts_at_zero(&self.regex, value)
    }
}

/// A region's patterns, compiled once.
pub(crate) struct FastPath {
    country_code: u16,
    country_code_digits: String,
    national_prefix: Option<String>,
    international_prefix: Option<Regex>,
    general: Pattern,
    /// Every type `phonenumber::validator::number_type` tries, mobile and fixed line
    /// first since leads are mostly those (validity does not depend on the order).
    types: Vec<Pattern>,
}

impl FastPath {
    /// The fast path of a region, if its metadata is plain enough to have one.
    pub fn new(region: Id) -> Option<Self> {
        let meta = DATABASE.by_id(region.as_ref())?;
        if meta.national_prefix_for_parsing().is_some()
            || meta.national_prefix_transform_rule().is_some()
        {
            return None;
        }
        let country_code = meta.country_code();
        let regions = DATABASE.region(&country_code)?;
        if regions.first() != Some(&region.as_ref())
            || (regions.len() > 1 && meta.leading_digits().is_some())
        {
            return None;
        }
        let d = meta.descriptors();
        let types = [
            d.mobile(),
            d.fixed_line(),
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        .map(Pattern::new)
        .collect::<Option<Vec<_>>>()?;
        let international_prefix = match meta.international_prefix() {
            Some(idd) => Some(compile(idd.as_str())?),
            None => None,
        };
        Some(FastPath {
            country_code,
            country_code_digits: country_code.to_string(),
            national_prefix: meta.national_prefix().map(str::to_string),
            international_prefix,
            general: Pattern::new(d.general())?,
            types,
        })
    }

    /// The E.164 of a valid number of this region; `None` when invalid or not sure.
    pub fn e164(&self, digits: &Digits) -> Option<String> {
        let d = digits.digits.as_str();
        let national = if digits.international {
            self.international_national(d)?
        } else {
            self.national_national(d)?
        };
        if !(2..=16).contains(&national.len()) || national.starts_with('0') {
            return None;
        }
        if !(self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))) {
            return None;
        }
        Some(format!("+{}{national}", self.country_code))
    }

    /// The national significant number of `+<d>`.
    fn international_national<'d>(&self, d: &'d str) -> Option<&'d str> {
        // helper::country_code: at least three digits, no leading 0, and the shortest
        // known country code wins.
        if d.len() <= 2 || d.starts_with('0') {
            return None;
        }
        let length = (1..=3).find(|&len| {
            d[..len]
                .parse::<u16>()
                .is_ok_and(|code| DATABASE.by_code(&code).is_some())
        })?;
        if d[..length] != self.country_code_digits {
            return None;
        }
        let national = &d[length..];
        if self.starts_with_national_prefix(national) {
            return None;
        }
        Some(national)
    }

    /// The national significant number of `<d>` written nationally.
    fn national_national<'d>(&self, d: &'d str) -> Option<&'d str> {
        // helper::international_prefix would strip an international dialling prefix,
        // helper::country_code may strip the country code.
        if self
            .international_prefix
            .as_ref()
            .is_some_and(|idd| starts_at_zero(idd, d))
            || d.starts_with(&self.country_code_digits)
        {
            return None;
        }
        // helper::national_number strips the national prefix once, parse_with once more.
        match self.national_prefix.as_deref() {
            Some(prefix) if d.starts_with(prefix) => {
                let national = &d[prefix.len()..];
                (!self.starts_with_national_prefix(national)).then_some(national)
            }
            _ => Some(d),
        }
    }

    fn starts_with_national_prefix(&self, national: &str) -> bool {
        self.national_prefix
            .as_deref()
            .is_some_and(|prefix| national.starts_with(prefix))
    }
}

/// Compiled as `phonenumber`'s database compiles its patterns.
fn compile(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(pattern)
        .ignore_whitespace(true)
        .build()
        .ok()
}

/// The leftmost match starts at 0, as `phonenumber` tests its patterns.
fn starts_at_zero(regex: &Regex, value: &str) -> bool {
    regex.find(value).is_some_and(|m| m.start() == 0)
}

#[cfg(test)]
mod tests {
    use super::super::phone::slow_path;
    use super::*;

    fn digits(text: &str) -> Digits {
        match text.strip_prefix('+') {
            Some(rest) => Digits {
                international: true,
                digits: rest.to_string(),
            },
            None => Digits {
                international: false,
                digits: text.to_string(),
            },
        }
    }

    /// Whenever the fast path answers, `phonenumber` gives the same answer; returns
    /// whether the fast path answered.
    fn agrees(fast: &FastPath, region: Id, text: &str) -> bool {
        let digits = digits(text);
        match fast.e164(&digits) {
            Some(e164) => {
                assert_eq!(
                    slow_path(&digits, region).as_deref(),
                    Some(e164.as_str()),
                    "{text} in {region:?}"
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn iran_and_the_us_have_a_fast_path() {
        let ir = FastPath::new(Id::IR).unwrap();
        assert_eq!(
            ir.e164(&digits("09121234567")).as_deref(),
            Some("+989121234567")
        );
        assert_eq!(
            ir.e164(&digits("+989121234567")).as_deref(),
            Some("+989121234567")
        );
        assert_eq!(
            ir.e164(&digits("989121234567")),
            None,
            "country code: not sure"
        );
        assert_eq!(
            ir.e164(&digits("0912123456")),
            None,
            "invalid: ask phonenumber"
        );
        let us = FastPath::new(Id::US).unwrap();
        assert_eq!(
            us.e164(&digits("4155552671")).as_deref(),
            Some("+14155552671")
        );
        assert!(
            FastPath::new(Id::GB).is_none(),
            "national prefix parsing rule"
        );
    }

    #[test]
    fn agrees_with_phonenumber_on_every_regions_examples() {
        let mut answered = 0;
        let mut regions = 0;
        for meta in DATABASE.iter() {
            let Ok(region) = meta.id().parse::<Id>() else {
                continue;
            };
            let Some(fast) = FastPath::new(region) else {
                continue;
            };
            regions += 1;
            let cc = meta.country_code();
            let prefix = meta.national_prefix().unwrap_or("");
            let d = meta.descriptors();
            let examples = [
                d.mobile(),
                d.fixed_line(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.voip(),
                d.personal_number(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ]
            .into_iter()
            .flatten()
            .filter_map(|d| d.example());
            for example in examples {
                let mut shorter = example.to_string();
                shorter.pop();
                for national in [example.to_string(), shorter, format!("{example}5")] {
                    for text in [
                        national.clone(),
                        format!("{prefix}{national}"),
                        format!("{prefix}{prefix}{national}"),
                        format!("{cc}{national}"),
                        format!("+{cc}{national}"),
                        format!("+{cc}{prefix}{national}"),
                    ] {
                        answered += agrees(&fast, region, &text) as usize;
                    }
                }
            }
        }
        assert!(regions > 150, "{regions} regions have a fast path");
        assert!(answered > 500, "the fast path answered {answered} times");
    }

    #[test]
    fn agrees_with_phonenumber_on_random_digits() {
        // A fixed generator: the same numbers every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let regions = [
            Id::IR,
            Id::US,
            Id::DE,
            Id::FR,
            Id::TR,
            Id::AE,
            Id::IT,
            Id::IN,
        ];
        let fast: Vec<_> = regions.iter().map(|&r| FastPath::new(r)).collect();
        let mut answered = 0;
        for _ in 0..20_000 {
            let which = (next() % regions.len() as u64) as usize;
            let Some(fast) = &fast[which] else { continue };
            let len = 6 + (next() % 10) as usize;
            let mut text: String = (0..len)
                .map(|_| char::from(b'0' + (next() % 10) as u8))
                .collect();
            // Bias towards the shapes of real numbers: national prefix, plus.
            match next() % 3 {
                0 => text.insert(0, '0'),
                1 => text.insert_str(0, &format!("+{}", fast.country_code)),
                _ => {}
            }
            answered += agrees(fast, regions[which], &text) as usize;
        }
        assert!(answered > 100, "the fast path answered {answered} times");
    }
}
