//! The coordinator's results on disk: one file per tour (`<tour id>.pb`, the `TourResult`
//! protobuf), written atomically (a temporary file, fsync, rename, fsync of the directory),
//! so a crash never leaves a half-written result and a restarted coordinator finds every
//! finished tour.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use prost::Message as _;

use crate::domain::Outcome;
use crate::proto::{self, TourResult};

/// Field 3 of a result stored before the outcome was an enum: its name.
#[derive(Clone, PartialEq, prost::Message)]
struct LegacyOutcome {
    #[prost(string, tag = "3")]
    outcome: String,
}

/// The outcome of a result stored before the outcome was an enum (UNSPECIFIED when it
/// has none).
fn legacy_outcome(bytes: &[u8]) -> i32 {
    let name = LegacyOutcome::decode(bytes)
        .map(|l| l.outcome)
        .unwrap_or_default();
    proto::Outcome::encode(Outcome::from_name(&name))
}

/// Parameters stored before fractional rates held a whole rate: read it as `rate`.
fn whole_rate(params: &mut proto::TourParams) {
    if params.rate == 0.0 && params.whole_rate > 0 {
        params.rate = params.whole_rate as f64;
    }
    params.whole_rate = 0;
}

/// Why the store failed; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory could not be created or read.
    #[error(
        "the results directory {} (--data-dir): {cause}; pass --data-dir with a directory this user may write",
        path.display()
    )]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        cause: std::io::Error,
    },
    /// A result could not be written.
    #[error("cannot write the result {path}: {cause}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        cause: std::io::Error,
    },
    /// A result file could not be read or decoded.
    #[error("cannot read the result {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Where results are kept.
#[derive(Debug, Clone)]
pub struct ResultStore {
    dir: PathBuf,
}

/// Which results a coordinator keeps on disk: the newest `keep_tours` that are at most
/// `keep_days` old (0: no limit), and every pinned one whatever its age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Newest results kept (0: all).
    pub keep_tours: usize,
    /// Days a result is kept (0: for ever).
    pub keep_days: u32,
}

/// Results kept by default.
pub const DEFAULT_KEEP_TOURS: usize = 1000;
/// Days a result is kept by default.
pub const DEFAULT_KEEP_DAYS: u32 = 90;

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            keep_tours: DEFAULT_KEEP_TOURS,
            keep_days: DEFAULT_KEEP_DAYS,
        }
    }
}

const DAY_MS: u64 = 24 * 3600 * 1000;

/// The default data directory: `$XDG_STATE_HOME/stillepost`, else
/// `~/.local/state/stillepost`, else `./stillepost-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(state).join("stillepost");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(home).join(".local/state/stillepost");
    }
    PathBuf::from("stillepost-data")
}

impl ResultStore {
    /// Opens (creating it if needed) a data directory, removing temporary files a crash
    /// may have left.
    pub fn open(dir: impl AsRef<Path>) -> Result<ResultStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let err = |cause| StoreError::Dir {
            path: dir.clone(),
            cause,
        };
        fs::create_dir_all(&dir).map_err(err)?;
        for entry in fs::read_dir(&dir).map_err(err)? {
            let path = entry.map_err(err)?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(ResultStore { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, tour_id: u64) -> PathBuf {
        self.dir.join(format!("{tour_id:016x}.pb"))
    }

    fn pin_path(&self, tour_id: u64) -> PathBuf {
        self.dir.join(format!("{tour_id:016x}.pin"))
    }

    /// Whether a result is pinned (kept whatever the retention).
    pub fn is_pinned(&self, tour_id: u64) -> bool {
        self.pin_path(tour_id).exists()
    }

    /// Pins a stored result, or unpins it; `Ok(false)` when there is no such result.
    pub fn pin(&self, tour_id: u64, pinned: bool) -> Result<bool, StoreError> {
        if !self.path_of(tour_id).exists() {
            return Ok(false);
        }
        let path = self.pin_path(tour_id);
        let werr = |cause| StoreError::Write {
            path: path.clone(),
            cause,
        };
        if pinned {
            fs::write(&path, b"").map_err(werr)?;
        } else if let Err(e) = fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(werr(e));
        }
        Ok(true)
    }

    /// Removes the results `retention` does not keep, as of `now_ms` (ms since the
    /// epoch); returns the tours removed, oldest first.
    pub fn prune(&self, retention: Retention, now_ms: u64) -> Result<Vec<u64>, StoreError> {
        let index = self.index()?;
        let oldest_kept_ms = match retention.keep_days {
            0 => 0,
            days => now_ms.saturating_sub(u64::from(days) * DAY_MS),
        };
        let mut removed = Vec::new();
        for (newest_first, &(started, id)) in index.iter().rev().enumerate() {
            let too_many = retention.keep_tours > 0 && newest_first >= retention.keep_tours;
            let too_old = started < oldest_kept_ms;
            if (too_many || too_old) && !self.is_pinned(id) {
                let path = self.path_of(id);
                // Another ring of this coordinator may have removed it just now.
                match fs::remove_file(&path) {
                    Err(cause) if cause.kind() != std::io::ErrorKind::NotFound => {
                        return Err(StoreError::Write { path, cause });
                    }
                    _ => {}
                }
                removed.push(id);
            }
        }
        removed.reverse();
        Ok(removed)
    }

    /// Writes a result atomically.
    pub fn save(&self, result: &TourResult) -> Result<(), StoreError> {
        self.write_atomically(&self.path_of(result.tour_id), &result.encode_to_vec())
    }

    fn ring_path(&self) -> PathBuf {
        self.dir.join("ring.pb")
    }

    /// Keeps the configured ring (atomically), or forgets it (`None`).
    pub fn save_ring(&self, ring: Option<&proto::StoredRing>) -> Result<(), StoreError> {
        let path = self.ring_path();
        match ring {
            Some(ring) => self.write_atomically(&path, &ring.encode_to_vec()),
            None => match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(StoreError::Write { path, cause: e })
                }
                _ => Ok(()),
            },
        }
    }

    /// The ring kept at the last configure, if any.
    pub fn load_ring(&self) -> Result<Option<proto::StoredRing>, StoreError> {
        let path = self.ring_path();
        match fs::read(&path) {
            Ok(bytes) => proto::StoredRing::decode(bytes.as_slice())
                .map(|mut ring| {
                    if let Some(params) = &mut ring.params {
                        whole_rate(params);
                    }
                    Some(ring)
                })
                .map_err(|e| StoreError::Read {
                    path,
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Read {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// This data directory's coordinator id, made by `make` the first time: a coordinator
    /// restarted on the same directory is the same owner to its members.
    pub fn coordinator_id(&self, make: impl FnOnce() -> String) -> Result<String, StoreError> {
        let path = self.dir.join("coordinator-id");
        match fs::read_to_string(&path) {
            Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::Read {
                    path,
                    reason: e.to_string(),
                });
            }
        }
        let id = make();
        self.write_atomically(&path, format!("{id}\n").as_bytes())?;
        Ok(id)
    }

    /// Writes `bytes` to `path` so that a crash leaves the old file or the new one.
    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let path = path.to_path_buf();
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let werr = |cause| StoreError::Write {
            path: path.clone(),
            cause,
        };
        let mut file = fs::File::create(&tmp).map_err(werr)?;
        file.write_all(bytes).map_err(werr)?;
        file.sync_all().map_err(werr)?;
        drop(file);
        fs::rename(&tmp, &path).map_err(werr)?;
        // The rename is durable only once the directory is.
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(werr)?;
        Ok(())
    }

    /// Reads one result, `None` if there is no such tour.
    pub fn load(&self, tour_id: u64) -> Result<Option<TourResult>, StoreError> {
        let path = self.path_of(tour_id);
        match fs::read(&path) {
            Ok(bytes) => {
                let mut result =
                    TourResult::decode(bytes.as_slice()).map_err(|e| StoreError::Read {
                        path,
                        reason: e.to_string(),
                    })?;
                if result.outcome() == proto::Outcome::Unspecified {
                    result.outcome = legacy_outcome(&bytes);
                }
                if let Some(params) = &mut result.params {
                    whole_rate(params);
                }
                Ok(Some(result))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Read {
                path,
                reason: e.to_string(),
            }),
        }
    }

    /// Every stored tour as (started ms since the epoch, tour id), oldest first.
    pub fn index(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut index: Vec<(u64, u64)> = self
            .all()?
            .iter()
            .map(|r| (r.started_unix_ms, r.tour_id))
            .collect();
        index.sort_unstable();
        Ok(index)
    }

    /// Every stored result, in no particular order.
    pub fn all(&self) -> Result<Vec<TourResult>, StoreError> {
        let err = |cause| StoreError::Dir {
            path: self.dir.clone(),
            cause,
        };
        let mut all = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(err)? {
            let path = entry.map_err(err)?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".pb"))
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            else {
                continue;
            };
            if let Some(result) = self.load(id)? {
                all.push(result);
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_newest_the_recent_and_the_pinned() {
        let dir = std::env::temp_dir().join(format!("stillepost-prune-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = ResultStore::open(&dir).unwrap();
        let now = 100 * DAY_MS;
        // Tours 1..=6, started 6 days ago to 1 day ago.
        for id in 1..=6u64 {
            store
                .save(&TourResult {
                    tour_id: id,
                    started_unix_ms: now - (7 - id) * DAY_MS,
                    ..Default::default()
                })
                .unwrap();
        }
        assert!(store.pin(1, true).unwrap());
        assert!(!store.pin(99, true).unwrap(), "no such tour");
        let keep = |keep_tours, keep_days| Retention {
            keep_tours,
            keep_days,
        };
        // The newest 4, and 1 (pinned): 2 goes.
        assert_eq!(store.prune(keep(4, 0), now).unwrap(), vec![2]);
        // At most 3 days old: 3 goes (4 started 3 days ago).
        assert_eq!(store.prune(keep(0, 3), now).unwrap(), vec![3]);
        assert_eq!(store.prune(keep(0, 0), now).unwrap(), Vec::<u64>::new());
        let left: Vec<u64> = store.index().unwrap().iter().map(|&(_, id)| id).collect();
        assert_eq!(left, vec![1, 4, 5, 6]);
        // Unpinned, 1 goes with the next prune.
        store.pin(1, false).unwrap();
        assert_eq!(store.prune(keep(3, 0), now).unwrap(), vec![1]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn results_round_trip_and_index_by_start_time() {
        let dir = std::env::temp_dir().join(format!("stillepost-store-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = ResultStore::open(&dir).unwrap();
        fs::write(dir.join("0000000000000001.pb.tmp"), b"half").unwrap();
        let store = ResultStore::open(store.dir()).unwrap();
        assert!(
            !dir.join("0000000000000001.pb.tmp").exists(),
            "crash leftovers are removed"
        );
        for (id, started) in [(7u64, 300u64), (3, 100), (9, 200)] {
            store
                .save(&TourResult {
                    tour_id: id,
                    started_unix_ms: started,
                    outcome: proto::Outcome::Complete.into(),
                    ..Default::default()
                })
                .unwrap();
        }
        assert_eq!(store.index().unwrap(), vec![(100, 3), (200, 9), (300, 7)]);
        assert_eq!(store.load(9).unwrap().unwrap().started_unix_ms, 200);
        assert_eq!(store.load(4).unwrap(), None);
        fs::write(dir.join("0000000000000005.pb"), b"\xff\xff garbage").unwrap();
        let err = store.load(5).unwrap_err().to_string();
        assert!(err.starts_with("cannot read the result "), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A result as a coordinator stored it before states were enums and counters named
    /// values (the fields that matter here).
    #[derive(Clone, PartialEq, prost::Message)]
    struct OldTourResult {
        #[prost(uint64, tag = "1")]
        tour_id: u64,
        #[prost(string, tag = "3")]
        outcome: String,
        #[prost(uint64, tag = "6")]
        messages_sent: u64,
        #[prost(message, repeated, tag = "10")]
        members: Vec<OldMemberStats>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct OldMemberStats {
        #[prost(uint32, tag = "1")]
        index: u32,
        #[prost(uint64, tag = "3")]
        sent: u64,
        #[prost(string, tag = "17")]
        backend: String,
    }

    #[test]
    fn results_stored_before_the_typed_protocol_keep_their_outcome() {
        let dir = std::env::temp_dir().join(format!("stillepost-legacy-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = ResultStore::open(&dir).unwrap();
        for (id, outcome) in [(1u64, "timed_out"), (2, "complete"), (3, "failed"), (4, "")] {
            let old = OldTourResult {
                tour_id: id,
                outcome: outcome.into(),
                messages_sent: 100,
                members: vec![OldMemberStats {
                    index: 0,
                    sent: 100,
                    backend: "uring".into(),
                }],
            };
            fs::write(store.path_of(id), old.encode_to_vec()).unwrap();
        }
        let load = |id| store.load(id).unwrap().unwrap();
        assert_eq!(load(1).outcome(), proto::Outcome::TimedOut);
        assert_eq!(load(2).outcome(), proto::Outcome::Complete);
        assert_eq!(load(3).outcome(), proto::Outcome::Failed);
        assert_eq!(load(4).outcome(), proto::Outcome::Unspecified);
        let r = load(1);
        assert_eq!((r.tour_id, r.messages_sent), (1, 100));
        // The old per-field counters and backend string are gone.
        assert_eq!(r.members[0].counters, Vec::new());
        assert_eq!(r.members[0].backend(), proto::Backend::Unspecified);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A result and a ring stored when rates were whole numbers load with that rate.
    #[test]
    fn whole_rates_stored_before_fractional_ones_load_as_the_rate() {
        let dir = std::env::temp_dir().join(format!("stillepost-rate-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = ResultStore::open(&dir).unwrap();
        let old = proto::TourParams {
            msg_len: 64,
            count: 10,
            whole_rate: 400,
            ..proto::TourParams::default()
        };
        let result = TourResult {
            tour_id: 7,
            params: Some(old),
            ..TourResult::default()
        };
        fs::write(store.path_of(7), result.encode_to_vec()).unwrap();
        let ring = proto::StoredRing {
            params: Some(old),
            ..proto::StoredRing::default()
        };
        store.save_ring(Some(&ring)).unwrap();
        let expected = proto::TourParams {
            rate: 400.0,
            whole_rate: 0,
            dscp: 0,
            ..old
        };
        assert_eq!(store.load(7).unwrap().unwrap().params, Some(expected));
        assert_eq!(store.load_ring().unwrap().unwrap().params, Some(expected));
        fs::remove_dir_all(&dir).unwrap();
    }
}
