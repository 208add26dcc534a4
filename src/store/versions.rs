//! The versions of each scenario that were served: one per change of its hash, with
//! when and why it was loaded (start, file change, SIGHUP, API) and its files, whose
//! texts are kept by their SHA-256, so an attempt's scenario hash leads back to the
//! exact text it ran.

use redb::{ReadableDatabase as _, ReadableTable as _};
use sha2::{Digest, Sha256};

use super::schema::{SCENARIO_TEXTS, SCENARIO_VERSIONS};
use super::{Store, StoreError, decode, encode};

/// A scenario as it is served now, to record if its hash is new.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub name: String,
    /// The compiled scenario's content hash (its text and hook scripts).
    pub hash: String,
    /// Its files' paths and texts: the scenario first, then its hook scripts.
    pub files: Vec<(String, String)>,
}

/// A file of a version: where it was read, and the SHA-256 of its text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct VersionFile {
    pub path: String,
    pub sha256: String,
}

/// One recorded version of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ScenarioVersion {
    pub name: String,
    /// 1 for the first version recorded of this name, then one more per new hash.
    pub seq: u64,
    pub hash: String,
    pub loaded_ms: u64,
    /// What loaded it: `start`, `file_change`, `signal`, `api`.
    pub trigger: String,
    pub files: Vec<VersionFile>,
}

/// A version with its files' texts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct VersionTexts {
    pub version: ScenarioVersion,
    /// `(path, text)` of each file, the scenario first.
    pub texts: Vec<(String, String)>,
}

impl Store {
    /// Records, in one transaction, each of `versions` whose hash differs from its
    /// name's latest version (a reload that changed nothing adds nothing). Returns the
    /// versions recorded.
    pub fn record_versions(
        &self,
        versions: &[NewVersion],
        trigger: &str,
        now_ms: u64,
    ) -> Result<Vec<ScenarioVersion>, StoreError> {
        let tx = self.db.begin_write()?;
        let mut recorded = Vec::new();
        {
            let mut table = tx.open_table(SCENARIO_VERSIONS)?;
            let mut texts = tx.open_table(SCENARIO_TEXTS)?;
            for new in versions {
                let latest = match table
                    .range((new.name.as_str(), 0)..=(new.name.as_str(), u64::MAX))?
                    .next_back()
                {
                    Some(row) => Some(decode::<ScenarioVersion>(
                        "scenario_versions",
                        row?.1.value(),
                    )?),
                    None => None,
                };
                if latest.as_ref().is_some_and(|l| l.hash == new.hash) {
                    continue;
                }
                let mut files = Vec::new();
                for (path, text) in &new.files {
                    let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
                    texts.insert(sha256.as_str(), text.as_str())?;
                    files.push(VersionFile {
                        path: path.clone(),
                        sha256,
                    });
                }
                let version = ScenarioVersion {
                    name: new.name.clone(),
                    seq: latest.map_or(1, |l| l.seq + 1),
                    hash: new.hash.clone(),
                    loaded_ms: now_ms,
                    trigger: trigger.to_owned(),
                    files,
                };
                table.insert(
                    (new.name.as_str(), version.seq),
                    encode(&version).as_slice(),
                )?;
                recorded.push(version);
            }
        }
        super::commit(tx, "versions")?;
        Ok(recorded)
    }

    /// Every version of scenario `name`, oldest first.
    pub fn scenario_versions(&self, name: &str) -> Result<Vec<ScenarioVersion>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SCENARIO_VERSIONS)?;
        let mut out = Vec::new();
        for row in table.range((name, 0)..=(name, u64::MAX))? {
            out.push(decode("scenario_versions", row?.1.value())?);
        }
        Ok(out)
    }

    /// The latest version of every scenario ever recorded, by name.
    pub fn latest_versions(&self) -> Result<Vec<ScenarioVersion>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SCENARIO_VERSIONS)?;
        let mut out: Vec<ScenarioVersion> = Vec::new();
        for row in table.iter()? {
            let version: ScenarioVersion = decode("scenario_versions", row?.1.value())?;
            match out.last_mut() {
                Some(last) if last.name == version.name => *last = version,
                _ => out.push(version),
            }
        }
        Ok(out)
    }

    /// The version whose hash starts with `prefix` (the 12 digits logs and attempts
    /// show will do), if exactly one has it.
    pub fn version_by_hash(&self, prefix: &str) -> Result<Option<ScenarioVersion>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SCENARIO_VERSIONS)?;
        let mut found = None;
        for row in table.iter()? {
            let version: ScenarioVersion = decode("scenario_versions", row?.1.value())?;
            if !prefix.is_empty() && version.hash.starts_with(prefix) {
                if found
                    .as_ref()
                    .is_some_and(|f: &ScenarioVersion| f.hash != version.hash)
                {
                    return Ok(None);
                }
                found = Some(version);
            }
        }
        Ok(found)
    }

    /// The version a hash prefix names (`version_by_hash`), with each file's path and
    /// text, the scenario first.
    pub fn version_with_texts(&self, prefix: &str) -> Result<Option<VersionTexts>, StoreError> {
        let Some(version) = self.version_by_hash(prefix)? else {
            return Ok(None);
        };
        let mut texts = Vec::new();
        for file in &version.files {
            let text = self.version_text(&file.sha256)?.unwrap_or_default();
            texts.push((file.path.clone(), text));
        }
        Ok(Some(VersionTexts { version, texts }))
    }

    /// A version file's text, by its SHA-256.
    pub fn version_text(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read()?;
        let texts = tx.open_table(SCENARIO_TEXTS)?;
        Ok(texts.get(sha256)?.map(|t| t.value().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(name: &str, hash: &str, text: &str) -> NewVersion {
        NewVersion {
            name: name.into(),
            hash: hash.into(),
            files: vec![(format!("scenarios/{name}.yaml"), text.into())],
        }
    }

    #[test]
    fn a_version_is_recorded_once_per_hash_and_its_text_kept() {
        let dir = std::env::temp_dir().join(format!("dialflow-versions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("s.redb")).unwrap();
        let first = store
            .record_versions(
                &[version("a", "aaa1", "one"), version("b", "bbb1", "two")],
                "start",
                1,
            )
            .unwrap();
        assert_eq!(first.len(), 2);
        // Nothing changed: nothing recorded.
        assert!(
            store
                .record_versions(&[version("a", "aaa1", "one")], "api", 2)
                .unwrap()
                .is_empty()
        );
        let second = store
            .record_versions(&[version("a", "aaa2", "one, edited")], "file_change", 3)
            .unwrap();
        assert_eq!(
            (second[0].seq, second[0].trigger.as_str()),
            (2, "file_change")
        );

        let history = store.scenario_versions("a").unwrap();
        assert_eq!(
            history.iter().map(|v| v.hash.as_str()).collect::<Vec<_>>(),
            ["aaa1", "aaa2"]
        );
        let latest = store.latest_versions().unwrap();
        assert_eq!(
            latest
                .iter()
                .map(|v| (v.name.as_str(), v.seq))
                .collect::<Vec<_>>(),
            [("a", 2), ("b", 1)]
        );
        let found = store.version_by_hash("aaa2").unwrap().unwrap();
        let text = store.version_text(&found.files[0].sha256).unwrap();
        assert_eq!(text.as_deref(), Some("one, edited"));
        assert!(store.version_by_hash("aaa").unwrap().is_none(), "ambiguous");
        assert!(store.version_by_hash("zzz").unwrap().is_none());
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
