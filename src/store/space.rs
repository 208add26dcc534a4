//! How the store file's space is used, table by table: what ops need to size disks and
//! what a change to the records' encoding is measured by.

use redb::{ReadableDatabase as _, ReadableTableMetadata as _};
use serde::Serialize;

use super::{Store, StoreError};

/// One table's share of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSpace {
    pub name: String,
    pub entries: u64,
    /// Keys and values themselves.
    pub stored_bytes: u64,
    /// Page headers and offsets.
    pub metadata_bytes: u64,
    /// Allocated but unused in the table's pages (half-empty pages after splits).
    pub fragmented_bytes: u64,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Space {
    pub file_bytes: u64,
    /// Pages in use by some table or the database's own trees.
    pub allocated_bytes: u64,
    pub tables: Vec<TableSpace>,
}

impl Store {
    /// The file's size, the bytes its trees use, and each table's entries and bytes.
    pub fn space(&self) -> Result<Space, StoreError> {
        let file_bytes = std::fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|source| StoreError::Io {
                action: "read",
                path: self.path.clone(),
                source,
            })?;
        let allocated_bytes = {
            // Only a write transaction reports the page allocator; it is dropped unused.
            let tx = self.db.begin_write()?;
            let stats = tx.stats()?;
            stats.allocated_pages() * stats.page_size() as u64
        };
        let tx = self.db.begin_read()?;
        let mut tables = Vec::new();
        for handle in tx.list_tables()? {
            let table = tx.open_untyped_table(handle.clone())?;
            let stats = table.stats()?;
            tables.push(TableSpace {
                name: redb::TableHandle::name(&handle).to_string(),
                entries: table.len()?,
                stored_bytes: stats.stored_bytes(),
                metadata_bytes: stats.metadata_bytes(),
                fragmented_bytes: stats.fragmented_bytes(),
            });
        }
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Space {
            file_bytes,
            allocated_bytes,
            tables,
        })
    }
}
