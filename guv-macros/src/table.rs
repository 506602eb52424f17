//! Which std paths `#[guv::patched]` rewrites, and to what.
//!
//! Every green module is `guv::green::<the std module's path>` and starts
//! with `pub use std::<module>::*;`, so a rewrite only ever swaps the module
//! prefix (`std::net` → `::guv::green::net`) and keeps the rest of the
//! path. An item that is not shadowed still resolves to std's own.
//!
//! docs/PATCHING.md is the readable version of this table; a test below
//! checks that the two agree.

use crate::groups::{Group, GroupSet};

/// Which items of a module are rewritten when a path names one.
pub(crate) enum Items {
    /// All but these, which never block and which the green module does not
    /// shadow (rewriting them would be harmless, but leaves noise).
    AllExcept(&'static [&'static str]),
    /// Only these.
    Only(&'static [&'static str]),
}

/// One std module with a green twin.
pub(crate) struct Module {
    /// The path below `std`.
    pub(crate) path: &'static [&'static str],
    /// The group that patches the module itself (`use std::net;`, globs)
    /// and, unless `overrides` says otherwise, its items.
    pub(crate) group: Group,
    pub(crate) items: Items,
    /// Items that belong to another group: `std::thread::sleep` is `time`,
    /// as `time.sleep` is in Python's `monkey_patch`.
    pub(crate) overrides: &'static [(&'static str, Group)],
}

/// The table. The longest matching `path` decides.
pub(crate) const MODULES: &[Module] = &[
    Module {
        path: &["net"],
        group: Group::Net,
        items: Items::AllExcept(&[
            "IpAddr",
            "Ipv4Addr",
            "Ipv6Addr",
            "SocketAddr",
            "SocketAddrV4",
            "SocketAddrV6",
            "Shutdown",
            "AddrParseError",
            "Ipv6MulticastScope",
        ]),
        overrides: &[],
    },
    Module { path: &["os"], group: Group::Net, items: Items::Only(&[]), overrides: &[] },
    Module { path: &["os", "unix"], group: Group::Net, items: Items::Only(&[]), overrides: &[] },
    Module {
        path: &["os", "unix", "net"],
        group: Group::Net,
        items: Items::AllExcept(&["SocketAddr", "UCred"]),
        overrides: &[],
    },
    Module {
        path: &["os", "unix", "fs"],
        group: Group::Fs,
        items: Items::Only(&["symlink", "chown", "fchown", "lchown", "chroot"]),
        overrides: &[],
    },
    Module {
        path: &["os", "unix", "process"],
        group: Group::Process,
        items: Items::Only(&["CommandExt"]),
        overrides: &[],
    },
    Module {
        path: &["thread"],
        group: Group::Thread,
        items: Items::AllExcept(&["available_parallelism", "panicking", "LocalKey", "AccessError", "Result"]),
        overrides: &[("sleep", Group::Time), ("sleep_ms", Group::Time), ("sleep_until", Group::Time)],
    },
    Module {
        path: &["sync"],
        group: Group::Sync,
        items: Items::AllExcept(&[
            "Arc",
            "Weak",
            "atomic",
            "PoisonError",
            "TryLockError",
            "LockResult",
            "TryLockResult",
        ]),
        overrides: &[],
    },
    Module { path: &["sync", "mpsc"], group: Group::Sync, items: Items::AllExcept(&[]), overrides: &[] },
    Module {
        path: &["io"],
        group: Group::Io,
        items: Items::Only(&["stdin", "Stdin", "StdinLock", "pipe", "PipeReader", "PipeWriter"]),
        overrides: &[],
    },
    Module {
        path: &["process"],
        group: Group::Process,
        items: Items::AllExcept(&["exit", "abort", "id", "ExitCode", "Termination"]),
        overrides: &[],
    },
    Module {
        path: &["fs"],
        group: Group::Fs,
        items: Items::AllExcept(&["Permissions", "FileType", "FileTimes"]),
        overrides: &[],
    },
];

/// Decides a path below `std` (`segs` = `["net", "TcpStream", "connect"]`
/// for `std::net::TcpStream::connect`). Returns how many leading segments
/// form the module prefix to swap for `guv::green::...`, or `None` to
/// leave the path alone.
///
/// A path that *is* a table module (`use std::net;`, `use std::net::*`)
/// is rewritten when the module's group is on; otherwise the segment after
/// the module prefix names the item that decides.
pub(crate) fn classify<S: AsRef<str>>(segs: &[S], groups: GroupSet) -> Option<usize> {
    let m = MODULES
        .iter()
        .filter(|m| m.path.len() <= segs.len() && m.path.iter().zip(segs).all(|(a, b)| *a == b.as_ref()))
        .max_by_key(|m| m.path.len())?;
    let Some(item) = segs.get(m.path.len()) else {
        return groups.contains(m.group).then_some(m.path.len());
    };
    let item = item.as_ref();
    let group = m.overrides.iter().find(|(name, _)| *name == item).map_or(m.group, |&(_, g)| g);
    let green = match m.items {
        Items::AllExcept(keep) => !keep.contains(&item),
        Items::Only(list) => list.contains(&item),
    } || m.overrides.iter().any(|(name, _)| *name == item);
    (green && groups.contains(group)).then_some(m.path.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(path: &str, groups: GroupSet) -> Option<usize> {
        let segs: Vec<&str> = path.split("::").collect();
        classify(&segs, groups)
    }

    #[test]
    fn blocking_items_are_rewritten_pure_data_is_not() {
        let all = GroupSet::all();
        assert_eq!(c("net::TcpStream::connect", all), Some(1));
        assert_eq!(c("net::Ipv4Addr::LOCALHOST", all), None);
        assert_eq!(c("net", all), Some(1));
        assert_eq!(c("sync::mpsc::channel", all), Some(2));
        assert_eq!(c("sync::mpsc", all), Some(2));
        assert_eq!(c("sync::Mutex", all), Some(1));
        assert_eq!(c("sync::Arc", all), None);
        assert_eq!(c("sync::atomic::AtomicBool", all), None);
        assert_eq!(c("os::unix::net::UnixStream", all), Some(3));
        assert_eq!(c("os::unix::io::AsRawFd", all), None);
        assert_eq!(c("os::unix", all), Some(2));
        assert_eq!(c("os::unix::fs::symlink", all), Some(3));
        assert_eq!(c("os::unix::fs::PermissionsExt", all), None);
        assert_eq!(c("os::unix::process::CommandExt", all), Some(3));
        assert_eq!(c("os::unix::process::ExitStatusExt", all), None);
        assert_eq!(c("os::unix::fs::symlink", GroupSet::EMPTY.with(Group::Net)), None);
        assert_eq!(c("io::stdin", all), Some(1));
        assert_eq!(c("io::pipe", all), Some(1));
        assert_eq!(c("io::PipeReader", all), Some(1));
        assert_eq!(c("io::PipeWriter::try_clone", all), Some(1));
        assert_eq!(c("io::pipe", GroupSet::EMPTY.with(Group::Net)), None);
        assert_eq!(c("io::Read", all), None);
        assert_eq!(c("io", all), Some(1));
        assert_eq!(c("time::Duration", all), None);
        // `guv::green::time` adds a `sleep` that std's `time` lacks; a
        // rewritten `use std::time::*` would clash with `std::thread::*`.
        assert_eq!(c("time", all), None);
        assert_eq!(c("process::Command", all), Some(1));
        assert_eq!(c("process::exit", all), None);
        assert_eq!(c("fs::read_to_string", all), Some(1));
        assert_eq!(c("collections::HashMap", all), None);
        assert_eq!(c("thread_local", all), None);
    }

    #[test]
    fn groups_select_and_sleep_belongs_to_time() {
        let time = GroupSet::EMPTY.with(Group::Time);
        let thread = GroupSet::EMPTY.with(Group::Thread);
        assert_eq!(c("thread::sleep", time), Some(1));
        assert_eq!(c("thread::spawn", time), None);
        assert_eq!(c("thread", time), None);
        assert_eq!(c("thread::sleep", thread), None);
        assert_eq!(c("thread::spawn", thread), Some(1));
        assert_eq!(c("thread", thread), Some(1));
        assert_eq!(c("net::TcpStream", thread), None);
    }

    #[test]
    fn patching_md_lists_the_whole_table() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PATCHING.md"))
            .expect("docs/PATCHING.md exists");
        for m in MODULES {
            let module = format!("`std::{}`", m.path.join("::"));
            assert!(doc.contains(&module), "PATCHING.md misses {module}");
            let names: &[&str] = match m.items {
                Items::AllExcept(keep) => keep,
                Items::Only(list) => list,
            };
            for name in names.iter().chain(m.overrides.iter().map(|(n, _)| n)) {
                let item = format!("`{name}`");
                assert!(doc.contains(&item), "PATCHING.md misses {item} of {module}");
            }
        }
    }
}
