//! The API's address, written beside the store while a daemon serves it
//! (`data/dialflow.redb` → `data/dialflow.redb.api`). The store commands find a running
//! daemon through it, so `listen: 127.0.0.1:0` (a port the system picks, as tests and
//! side-by-side deployments use) works as well as a fixed port. The file only says where
//! to ask: the commands still check, through `/api/status`, that whoever answers there
//! holds this very store, so a file a killed daemon left behind misleads nobody.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the address of the daemon holding `store` is written.
pub fn address_file(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".api");
    PathBuf::from(name)
}

/// The address the daemon holding `store` last wrote, if any.
pub fn served_address(store: &Path) -> Option<SocketAddr> {
    std::fs::read_to_string(address_file(store))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The written file, removed when the API stops.
pub(super) struct AddressFile(PathBuf);

impl AddressFile {
    /// Writes `addr` for `store`. A failure only costs the commands their way to a
    /// daemon on a port the system picked: it is logged, not fatal.
    pub(super) fn write(store: &Path, addr: SocketAddr) -> Option<AddressFile> {
        let path = address_file(store);
        match std::fs::write(&path, format!("{addr}\n")) {
            Ok(()) => Some(AddressFile(path)),
            Err(e) => {
                tracing::warn!("cannot write the API address to {}: {e}", path.display());
                None
            }
        }
    }
}

impl Drop for AddressFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_sits_beside_the_store_and_goes_with_the_api() {
        let dir = std::env::temp_dir().join(format!("dialflow-address-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = dir.join("s.redb");
        assert_eq!(address_file(&store), dir.join("s.redb.api"));
        assert_eq!(served_address(&store), None);
        let addr: SocketAddr = "127.0.0.1:4321".parse().unwrap();
        let file = AddressFile::write(&store, addr).unwrap();
        assert_eq!(served_address(&store), Some(addr));
        drop(file);
        assert_eq!(served_address(&store), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
