//! The hosts file, parsed once and re-read when it changes.
//!
//! Checking for a change costs one `stat` per lookup, and re-reading a
//! hosts file a few microseconds of local I/O; both happen on the calling
//! thread rather than the thread pool, whose round trip would cost more.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

/// What identifies one version of the file.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// Name to addresses, as parsed.
type Table = HashMap<String, Vec<IpAddr>>;

pub(super) struct HostsCache {
    path: PathBuf,
    /// The file's stamp when parsed (`None`: it did not exist) and its table.
    state: Mutex<Option<(Option<Stamp>, Table)>>,
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
            len: m.len(),
            inode: m.ino(),
        });
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = matches!(&*state, Some((s, _)) if *s == stamp);
        if !fresh {
            let text = match stamp {
                Some(_) => std::fs::read_to_string(&self.path).unwrap_or_default(),
                None => String::new(),
            };
            *state = Some((stamp, parse(&text)));
        }
        let (_, map) = state.as_ref().expect("hosts state was just filled");
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
