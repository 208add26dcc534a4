//! Leads from files: a streaming CSV reader that turns a spreadsheet export into
//! validated leads (phone in E.164, known time zone, custom columns usable as
//! `lead.custom.<key>`) and rejected rows with reasons, plus the CSV error report.
//!
//! Persisting leads is the store's job; this module only reads and validates, one row
//! at a time, so a file of millions of rows never sits in memory.

pub mod csv_import;
pub mod error_csv;
pub mod header;
pub mod import;
pub mod phone;
mod phone_fast;
mod rows;

pub use csv_import::{ImportError, LeadReader, LeadRecord, RejectedRow};
pub use error_csv::ErrorCsv;
pub use phone::{PhoneError, PhoneNormalizer, normalize_phone};
