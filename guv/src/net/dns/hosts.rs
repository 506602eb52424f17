//! The hosts file, parsed once and re-read when it changes.
//!
//! Checking for a change costs one `stat` per lookup, and re-reading a
//! hosts file a few microseconds of local I/O; both happen on the calling
//! thread rather than the thread pool, whose round trip would cost more.
//!
//! File times come from a coarse clock (a tick of a few milliseconds), so
//! a rewrite in place with the same length soon after the file was read
//! can leave every field of the stamp as it was. As git's "racy" index
//! entries: a version changed less than [`RACY`] before it was read is
//! read again at the next lookup, until it is older than that.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How long after a change a read of the file is not trusted to be the
/// last version (far more than a file-system clock tick).
const RACY: Duration = Duration::from_secs(1);

/// What identifies one version of the file.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    /// The status change time (ctime), which no one can set back.
    changed: (i64, i64),
    len: u64,
    inode: u64,
}

impl Stamp {
    /// The latest of the file's times.
    fn latest(&self) -> SystemTime {
        let changed = u64::try_from(self.changed.0)
            .ok()
            .and_then(|s| {
                SystemTime::UNIX_EPOCH.checked_add(Duration::new(s, self.changed.1.clamp(0, 999_999_999) as u32))
            })
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.modified.map_or(changed, |m| m.max(changed))
    }
}

/// Name to addresses, as parsed.
type Table = HashMap<String, Vec<IpAddr>>;

pub(super) struct HostsCache {
    path: PathBuf,
    /// The file's stamp when parsed (`None`: it did not exist), whether
    /// that read can be trusted while the stamp stays (see [`RACY`]), and
    /// the table.
    state: Mutex<Option<(Option<Stamp>, bool, Table)>>,
}

impl HostsCache {
    pub(super) fn new(path: PathBuf) -> HostsCache {
        HostsCache { path, state: Mutex::new(None) }
    }

    /// The addresses the file lists for `name` (already lower-case, no
    /// trailing dot), in file order; `None` if it lists none.
    pub(super) fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        let stamp = std::fs::metadata(&self.path).ok().map(|m| Stamp {
            modified: m.modified().ok(),
            changed: (m.ctime(), m.ctime_nsec()),
            len: m.len(),
            inode: m.ino(),
        });
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = matches!(&*state, Some((s, true, _)) if *s == stamp);
        if !fresh {
            let read_at = SystemTime::now();
            let settled = stamp.is_none_or(|s| s.latest() + RACY <= read_at);
            let text = match stamp {
                // Bytes, as glibc: a comment that is not UTF-8 must not
                // hide the entries (it is replaced, never matched).
                Some(_) => {
                    std::fs::read(&self.path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
                }
                None => String::new(),
            };
            *state = Some((stamp, settled, parse(&text)));
        }
        let (_, _, map) = state.as_ref().expect("hosts state was just filled");
        map.get(name).cloned()
    }
}

/// `address name [aliases...]` lines; `#` starts a comment.
fn parse(text: &str) -> Table {
    let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
            continue;
        };
        for name in words {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let ips = map.entry(name).or_default();
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    // IPv4 first, as the DNS path orders its answers.
    for ips in map.values_mut() {
        ips.sort_by_key(|ip| ip.is_ipv6());
    }
    map
}
