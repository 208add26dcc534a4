//! The CSV lead reader as an importer uses it: files as spreadsheets export them, in,
//! leads, rejected rows with their lines and reasons, and the error report, out.

use std::collections::BTreeMap;
use std::io::{self, Read};

use dialflow::leads::{ErrorCsv, ImportError, LeadReader, LeadRecord, RejectedRow};
use proptest::prelude::*;

/// Every row of `text`, split into leads and rejections.
fn import(text: impl AsRef<[u8]>, region: &str) -> (Vec<LeadRecord>, Vec<RejectedRow>) {
    let reader = LeadReader::new(text.as_ref(), region).expect("header accepted");
    let mut leads = Vec::new();
    let mut rejected = Vec::new();
    for row in reader {
        match row.expect("no read failure") {
            Ok(lead) => leads.push(lead),
            Err(row) => rejected.push(row),
        }
    }
    (leads, rejected)
}

fn header_error(text: impl AsRef<[u8]>) -> String {
    match LeadReader::new(text.as_ref(), "IR") {
        Ok(_) => panic!("header accepted"),
        Err(e) => e.to_string(),
    }
}

fn custom(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// (line, reason) of each rejection.
fn reasons(rejected: &[RejectedRow]) -> Vec<(u64, &str)> {
    rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect()
}

#[test]
fn iranian_rows() {
    let text = "phone,name,tz,city\n\
                09121234567,Sara Ahmadi,Asia/Tehran,Tehran\n\
                +98 935 123 4567, Reza ,,Shiraz\n\
                0098-912-765-4321,,asia/tehran,\n";
    let (leads, rejected) = import(text, "IR");
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(
        leads,
        vec![
            LeadRecord {
                line: 2,
                phone: "+989121234567".into(),
                name: "Sara Ahmadi".into(),
                time_zone: Some("Asia/Tehran".into()),
                custom: custom(&[("city", "Tehran")]),
            },
            LeadRecord {
                line: 3,
                phone: "+989351234567".into(),
                name: "Reza".into(),
                time_zone: None,
                custom: custom(&[("city", "Shiraz")]),
            },
            LeadRecord {
                line: 4,
                phone: "+989127654321".into(),
                name: String::new(),
                time_zone: Some("Asia/Tehran".into()),
                custom: custom(&[("city", "")]),
            },
        ]
    );
}

#[test]
fn us_rows_with_first_and_last_name() {
    let text = "First Name,Last Name,Mobile,Time Zone\n\
                Ada,Lovelace,(415) 555-2671,America/Los_Angeles\n\
                Grace,,415.555.2672,\n";
    let (leads, rejected) = import(text, "US");
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(leads[0].phone, "+14155552671");
    assert_eq!(leads[0].name, "Ada Lovelace");
    assert_eq!(leads[0].time_zone.as_deref(), Some("America/Los_Angeles"));
    assert!(leads[0].custom.is_empty());
    assert_eq!(leads[1].phone, "+14155552672");
    assert_eq!(leads[1].name, "Grace");
}

#[test]
fn semicolon_and_tab_delimiters() {
    for delimiter in [";", "\t"] {
        let header = ["phone", "name", "note"].join(delimiter);
        let row = ["09121234567", "Sara", "a, b"].join(delimiter);
        let text = format!("{header}\n{row}\n");
        let (leads, rejected) = import(&text, "IR");
        assert!(rejected.is_empty(), "{delimiter:?}: {rejected:?}");
        assert_eq!(leads[0].name, "Sara");
        assert_eq!(leads[0].custom, custom(&[("note", "a, b")]));
    }
}

#[test]
fn byte_order_mark_and_blank_lines_are_skipped() {
    let text =
        "\u{FEFF}phone,name\r\n\r\n09121234567,Sara\r\n,\r\n  ,  \r\n09121234568,Reza\r\n\r\n";
    let reader = LeadReader::new(text.as_bytes(), "IR").unwrap();
    assert_eq!(reader.columns(), ["phone", "name"]);
    let (leads, rejected) = import(text, "IR");
    assert!(rejected.is_empty(), "{rejected:?}");
    let lines: Vec<u64> = leads.iter().map(|l| l.line).collect();
    assert_eq!(lines, [3, 6]);
}

#[test]
fn quoted_fields_with_commas_and_newlines_keep_line_numbers() {
    let text = "phone,name,address\n\
                09121234567,\"Ahmadi, Sara\",\"Valiasr St.\nNo. 12\nTehran\"\n\
                bad,\"x\ny\",z\n\
                09121234568,Reza,\"\"\"quoted\"\"\"\n";
    let (leads, rejected) = import(text, "IR");
    assert_eq!(leads.len(), 2);
    assert_eq!(leads[0].line, 2);
    assert_eq!(leads[0].name, "Ahmadi, Sara");
    assert_eq!(leads[0].custom["address"], "Valiasr St.\nNo. 12\nTehran");
    assert_eq!(leads[1].line, 7);
    assert_eq!(leads[1].custom["address"], "\"quoted\"");
    assert_eq!(
        reasons(&rejected),
        [(
            5,
            "`bad` is not a phone number: a letter `b` is not allowed"
        )]
    );
}

#[test]
fn bad_rows_are_rejected_with_reasons() {
    let text = "phone,name,timezone\n\
                12,a,\n\
                0912abc4567,b,\n\
                ,c,\n\
                09121234567,d,Mars/Olympus\n\
                09121234567,e\n\
                09121234567,f,,extra,more\n\
                09121234567,g,Asia/Tehran\n";
    let (leads, rejected) = import(text, "IR");
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].line, 8);
    assert_eq!(
        reasons(&rejected),
        [
            (2, "`12` is not a valid phone number for region IR"),
            (
                3,
                "`0912abc4567` is not a phone number: a letter `a` is not allowed"
            ),
            (4, "no phone number"),
            (5, "unknown time zone `Mars/Olympus`"),
            (6, "2 fields, the header has 3"),
            (7, "5 fields, the header has 3"),
        ]
    );
    assert_eq!(rejected[4].fields, ["09121234567", "e"]);
}

#[test]
fn a_quote_left_open_is_pointed_out() {
    let text = "phone,name\n09121234567,\"Sara\n09121234568,Reza\n09121234569,Ali\n";
    let (leads, rejected) = import(text, "IR");
    assert!(leads.is_empty());
    assert_eq!(
        reasons(&rejected),
        [(
            2,
            "a quote opened in this row is never closed, so lines 2 to 4 were read as one row"
        )]
    );
}

#[test]
fn a_stray_quote_that_closes_later_does_not_swallow_rows_silently() {
    let text = "phone,name,city\n\
                09121111111,\"Ali,Tehran\n\
                09122222222,Sara,Shiraz\n\
                09123333333,Reza,Tabriz\n\
                09124444444,Bob 5\",Qom\n\
                09125555555,Mina,Rasht\n";
    let (leads, rejected) = import(text, "IR");
    assert_eq!(leads.len(), 1, "only the row after the damage");
    assert_eq!(leads[0].line, 6);
    assert_eq!(
        reasons(&rejected),
        [(
            2,
            "a quoted value runs from line 2 to line 5, taking in line 3, which looks like a \
             row of its own: a stray quote? (rows from line 2 to 5 are not imported)"
        )]
    );
    // A value with a line break but no row in it is still a value.
    let text = "phone,name,address\n09121234567,Sara,\"Valiasr St.\nNo. 12\"\n";
    let (leads, rejected) = import(text, "IR");
    assert_eq!((leads.len(), rejected.len()), (1, 0));
}

#[test]
fn a_huge_row_is_rejected_without_holding_the_file_in_memory() {
    // A quote opened on line 2 and never closed, then 3 MB of rows.
    let mut text = String::from("phone,name\n09121234567,\"Sara\n");
    while text.len() < 3 << 20 {
        text.push_str("09121234568,Reza Rezaei Rezaeian\n");
    }
    let (leads, rejected) = import(&text, "IR");
    assert!(leads.is_empty());
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0].reason.contains("longer than 1 MiB"),
        "{}",
        rejected[0].reason
    );
    assert!(rejected[0].fields.concat().len() <= 1 << 20);
}

#[test]
fn invalid_utf8_rejects_the_row_only() {
    let mut text = b"phone,name,city\n09121234567,Sara,".to_vec();
    text.extend_from_slice(b"Teh\xFFran\n09121234568,Reza,Shiraz\n");
    let (leads, rejected) = import(&text, "IR");
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].line, 3);
    assert_eq!(
        reasons(&rejected),
        [(
            2,
            "column `city` (3) is not valid UTF-8: save the file as CSV UTF-8"
        )]
    );
    assert_eq!(
        rejected[0].fields,
        ["09121234567", "Sara", "Teh\u{FFFD}ran"]
    );
}

#[test]
fn empty_files_have_no_header() {
    let expected = "the file is empty: the first line must be a header naming the columns";
    assert_eq!(header_error(""), expected);
    assert_eq!(header_error("\u{FEFF}"), expected);
    assert_eq!(header_error("\n\n  \r\n"), expected);
}

#[test]
fn header_only_is_zero_rows() {
    let (leads, rejected) = import("phone,name\n", "IR");
    assert!(leads.is_empty() && rejected.is_empty());
    let (leads, rejected) = import("phone", "IR");
    assert!(leads.is_empty() && rejected.is_empty());
}

#[test]
fn file_level_errors_name_what_and_where() {
    assert_eq!(
        header_error("name,city\nSara,Tehran\n"),
        "no phone column: the header has `name`, `city`; name one of phone, number, \
         phone_number, mobile, msisdn, tel"
    );
    assert_eq!(
        header_error("phone,City,CITY\n"),
        "column `CITY` appears twice in the header (columns 2 and 3)"
    );
    assert_eq!(
        header_error("phone,Zip Code,zip_code\n"),
        "columns `Zip Code` (2) and `zip_code` (3) would both be `lead.custom.zip_code`: \
         rename one"
    );
    assert_eq!(
        header_error(b"\nphone,ci\xFFty\n"),
        "column 2 of the header (line 2) is not valid UTF-8: save the file as CSV UTF-8"
    );
    let utf16: Vec<u8> = "\u{FEFF}phone\tname\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert_eq!(
        header_error(utf16),
        "the file is UTF-16 (as a spreadsheet's \"Unicode text\" export is): save it as CSV UTF-8"
    );
    assert_eq!(
        header_error("phone,\"name\n09121234567,Sara\n"),
        "a quote opened in the header (line 1) is never closed"
    );
    let err = LeadReader::new("phone\n".as_bytes(), "XX").err().unwrap();
    assert_eq!(
        err.to_string(),
        "unknown region `XX`: expected an ISO 3166 alpha-2 code such as IR or US"
    );
}

#[test]
fn custom_columns_with_awkward_names() {
    let text = "Phone, City ,Zip Code,2nd-contact,,شهر,e.mail,Name,first_name\n\
                09121234567,Tehran,1234,x,y,z,a@b.c,Sara,S\n";
    let reader = LeadReader::new(text.as_bytes(), "IR").unwrap();
    assert_eq!(
        reader.columns(),
        [
            "Phone",
            "City",
            "Zip Code",
            "2nd-contact",
            "",
            "شهر",
            "e.mail",
            "Name",
            "first_name"
        ]
    );
    let keys: Vec<&str> = reader.custom_keys().collect();
    assert_eq!(
        keys,
        [
            "City",
            "zip_code",
            "_2nd_contact",
            "column_5",
            "column_6",
            "e_mail",
            "first_name"
        ]
    );
    let (leads, _) = import(text, "IR");
    assert_eq!(leads[0].name, "Sara");
    assert_eq!(
        leads[0].custom,
        custom(&[
            ("City", "Tehran"),
            ("zip_code", "1234"),
            ("_2nd_contact", "x"),
            ("column_5", "y"),
            ("column_6", "z"),
            ("e_mail", "a@b.c"),
            ("first_name", "S"),
        ])
    );
}

/// Every custom key works in a scenario expression as `lead.custom.<key>`, keywords
/// of the expression language included.
#[test]
fn custom_keys_work_in_expressions() {
    use dialflow::core::expr::{Value, VarPath, eval, parse_guard};

    let text = "phone,Zip Code,2nd-contact,,شهر,in,and,not,true,City\n\
                09121234567,a,b,c,d,e,f,g,h,i\n";
    let reader = LeadReader::new(text.as_bytes(), "IR").unwrap();
    let keys: Vec<String> = reader.custom_keys().map(str::to_string).collect();
    let (leads, _) = import(text, "IR");
    let lead = leads[0].clone().into_lead();
    let vars = |path: &VarPath| match &path.0[..] {
        [l, c, key] if l == "lead" && c == "custom" => {
            lead.custom.get(key).map(|v| Value::str(v.as_str()))
        }
        _ => None,
    };
    for key in &keys {
        let guard = format!("lead.custom.{key} == \"{}\"", lead.custom[key]);
        let expr = parse_guard(&guard).unwrap_or_else(|e| panic!("{guard}: {e:?}"));
        assert_eq!(eval(&expr, &vars), Ok(Value::Bool(true)), "{guard}");
    }
}

#[test]
fn error_csv_content() {
    let text = "phone;name;note\n\
                12;Sara;\"a, b\"\n\
                09121234567;Reza\n\
                09121234567;Ali;ok\n\
                ;\"multi\nline\";x\n";
    let reader = LeadReader::new(text.as_bytes(), "IR").unwrap();
    let columns = reader.columns().to_vec();
    let mut report = ErrorCsv::new(Vec::new(), &columns).unwrap();
    for row in reader {
        if let Err(rejected) = row.unwrap() {
            report.write(&rejected).unwrap();
        }
    }
    let out = String::from_utf8(report.finish().unwrap()).unwrap();
    assert_eq!(
        out,
        "line,reason,phone,name,note\n\
         2,`12` is not a valid phone number for region IR,12,Sara,\"a, b\"\n\
         3,\"2 fields, the header has 3\",09121234567,Reza\n\
         5,no phone number,,\"multi\nline\",x\n"
    );
}

/// A reader that fails after handing out its bytes.
struct Failing<'a>(&'a [u8]);

impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn read_failures_end_the_import() {
    let err = LeadReader::new(Failing(b""), "IR").err().unwrap();
    assert_eq!(
        err.to_string(),
        "cannot read line 1 of the leads: disk on fire"
    );

    let mut reader = LeadReader::new(Failing(b"phone\n09121234567\n"), "IR").unwrap();
    assert!(matches!(reader.next(), Some(Ok(Ok(_)))));
    match reader.next() {
        Some(Err(e @ ImportError::Read { .. })) => {
            assert_eq!(
                e.to_string(),
                "cannot read line 3 of the leads: disk on fire"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(reader.next().is_none());
}

/// Reads everything, writes the error report: must never panic.
fn survives(bytes: &[u8], region: &str) {
    let Ok(reader) = LeadReader::new(bytes, region) else {
        return;
    };
    let columns = reader.columns().to_vec();
    let mut report = ErrorCsv::new(Vec::new(), &columns).unwrap();
    let mut last_line = 0;
    for row in reader {
        let row = row.expect("in-memory input cannot fail to read");
        let line = match &row {
            Ok(lead) => {
                assert!(lead.phone.starts_with('+'));
                lead.line
            }
            Err(rejected) => {
                report.write(rejected).unwrap();
                rejected.line
            }
        };
        assert!(line > last_line, "lines increase");
        last_line = line;
    }
    report.finish().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        survives(&bytes, "IR");
    }

    #[test]
    fn arbitrary_rows_under_a_good_header(
        rows in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..60), 0..20),
        region in prop::sample::select(vec!["IR", "US", "DE"]),
    ) {
        let mut bytes = b"phone,name,tz,city\n".to_vec();
        for row in rows {
            bytes.extend_from_slice(&row);
            bytes.push(b'\n');
        }
        survives(&bytes, region);
    }

    #[test]
    fn csv_shaped_text(text in "[0-9+()\\-. ,;\t\"\n\r a-zA-Z\u{FEFF}۰-۹]{0,300}") {
        survives(format!("phone,name,timezone\n{text}").as_bytes(), "IR");
        survives(text.as_bytes(), "US");
    }

    #[test]
    fn phone_normalisation_never_panics(raw in "\\PC{0,40}") {
        if let Ok(e164) = dialflow::leads::normalize_phone(&raw, phonenumber::country::Id::IR) {
            prop_assert!(e164.starts_with('+'));
            prop_assert!(e164[1..].bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
