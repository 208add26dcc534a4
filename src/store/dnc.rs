//! Do-not-call lists: one global, one per campaign.

use redb::{ReadableDatabase as _, ReadableTable as _};

use super::schema::DNC;
use super::{DncEntry, DncScope, Store, StoreError, decode, encode};

impl Store {
    /// Adds numbers (E.164) to a list; returns how many were new.
    pub fn add_dnc(
        &self,
        scope: &DncScope,
        phones: &[String],
        reason: &str,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let tx = self.db.begin_write()?;
        let mut added = 0;
        {
            let mut dnc = tx.open_table(DNC)?;
            let entry = encode(&DncEntry {
                added_ms: now_ms,
                reason: reason.into(),
            });
            for phone in phones {
                if dnc.get((scope.key(), phone.as_str()))?.is_none() {
                    dnc.insert((scope.key(), phone.as_str()), entry.as_slice())?;
                    added += 1;
                }
            }
        }
        super::commit(tx, "dnc")?;
        Ok(added)
    }

    /// The entry that keeps `phone` from being dialed by `campaign`, if any.
    pub fn dnc_entry(&self, campaign: &str, phone: &str) -> Result<Option<DncEntry>, StoreError> {
        let tx = self.db.begin_read()?;
        let dnc = tx.open_table(DNC)?;
        for scope in ["*", campaign] {
            if let Some(v) = dnc.get((scope, phone))? {
                return Ok(Some(decode("dnc", v.value())?));
            }
        }
        Ok(None)
    }

    /// A list's numbers with their entries.
    pub fn dnc_list(&self, scope: &DncScope) -> Result<Vec<(String, DncEntry)>, StoreError> {
        self.dnc_page(scope, "", usize::MAX)
    }

    /// At most `limit` entries of a list, in number order, after the number `after`
    /// (`""` for the first page).
    pub fn dnc_page(
        &self,
        scope: &DncScope,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, DncEntry)>, StoreError> {
        use std::ops::Bound;
        let tx = self.db.begin_read()?;
        let dnc = tx.open_table(DNC)?;
        let mut out = Vec::new();
        let start = (scope.key(), after);
        let from = if after.is_empty() {
            Bound::Included(start)
        } else {
            Bound::Excluded(start)
        };
        for row in dnc.range::<(&str, &str)>((from, Bound::Unbounded))? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = row?;
            let (s, phone) = k.value();
            if s != scope.key() {
                break;
            }
            out.push((phone.to_string(), decode("dnc", v.value())?));
        }
        Ok(out)
    }
}
