//! The resolver's configuration ([`Config`]): resolv.conf and its glibc
//! environment overrides, the defaults an empty file means, and the search
//! list that turns one host name into the names asked for.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::query;

/// Where the green resolver looks, and how patiently.
///
/// The fields are public; [`Config::default`] fills in resolv.conf's
/// defaults, so a literal only needs the fields it changes:
///
/// ```
/// use guv::net::dns::Config;
/// let c = Config {
///     nameservers: vec!["127.0.0.1:5353".parse().unwrap()],
///     timeout: std::time::Duration::from_secs(1),
///     search: vec!["corp.example".into()],
///     ..Config::default()
/// };
/// assert_eq!((c.attempts, c.ndots), (2, 1));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Servers to ask, in order (port 53 unless given otherwise).
    pub nameservers: Vec<SocketAddr>,
    /// How long to wait for one server's answer (one too large to add to
    /// the current time, such as `Duration::MAX`, waits without limit).
    pub timeout: Duration,
    /// How many rounds through the server list before giving up.
    pub attempts: u32,
    /// The hosts file consulted first (`None`: none).
    pub hosts_file: Option<PathBuf>,
    /// The search list (resolv.conf's `search`, or `domain`): suffixes
    /// tried after a name that does not end in a dot, in order. Entries
    /// are domain names without a trailing dot; one that makes a name
    /// invalid (too long, a bad label) is skipped for that name.
    pub search: Vec<String>,
    /// resolv.conf's `options ndots:N`: a name with at least this many
    /// dots is tried as given before the search list, one with fewer
    /// after it. glibc's default is 1 and its range `0..=15`.
    pub ndots: u32,
    /// resolv.conf's `options rotate`: each query a
    /// [`Resolver`](super::Resolver) sends starts at the next server in the
    /// list (round robin), spreading the load; otherwise every query asks
    /// the first server first.
    pub rotate: bool,
    /// resolv.conf's `options edns0`: UDP queries carry an EDNS0 record
    /// offering room for answers of up to 1 200 bytes, so that a server
    /// need not truncate one over 512 (which is then asked for again over
    /// TCP).
    pub edns0: bool,
}

/// resolv.conf's defaults (as glibc): 5 s per try, 2 rounds, ndots 1.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_ATTEMPTS: u32 = 2;
const DEFAULT_NDOTS: u32 = 1;
/// glibc's `RES_MAXNDOTS`: a larger `ndots:N` means this.
const MAX_NDOTS: u32 = 15;
/// glibc's `MAXNS`: resolv.conf's `nameserver` lines after the third are ignored.
const MAX_NAMESERVERS: usize = 3;

impl Default for Config {
    /// What an empty resolv.conf means, as glibc: a server on
    /// `127.0.0.1:53`, 5 s per try, 2 rounds, no search list, ndots 1; and
    /// no hosts file.
    ///
    /// ```
    /// use guv::net::dns::Config;
    /// assert_eq!(Config::default(), Config::from_resolv_conf(""));
    /// assert_eq!(Config::default().ndots, 1);
    /// ```
    fn default() -> Config {
        Config {
            nameservers: vec![SocketAddr::from(([127, 0, 0, 1], 53))],
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
            hosts_file: None,
            search: Vec::new(),
            ndots: DEFAULT_NDOTS,
            rotate: false,
            edns0: false,
        }
    }
}

impl Config {
    /// The system's configuration: `/etc/resolv.conf` and `/etc/hosts`. A
    /// missing resolv.conf means a server on `127.0.0.1:53`, as glibc.
    ///
    /// As in glibc, a file with neither a `search` nor a `domain` line
    /// searches the domain of the machine's host name (what follows its
    /// first dot; nothing for a host name without one), and two
    /// environment variables take precedence over the file: `LOCALDOMAIN`
    /// (whitespace-separated domains) replaces the search list, even when
    /// empty, and `RES_OPTIONS` holds options read after the file's
    /// (`timeout:N attempts:N ndots:N`).
    ///
    /// ```
    /// let c = guv::net::dns::Config::system();
    /// assert!(!c.nameservers.is_empty());
    /// assert!(c.ndots <= 15);
    /// # #[cfg(target_os = "linux")]
    /// # {
    /// // Without a search list in the file (nor LOCALDOMAIN), the host
    /// // name's domain is searched.
    /// let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    /// let listed = conf.lines().any(|l| matches!(l.split_whitespace().next(), Some("search" | "domain")));
    /// if !listed && std::env::var_os("LOCALDOMAIN").is_none() {
    ///     let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    ///     let domain = host.trim().split_once('.').map(|(_, d)| d.to_ascii_lowercase());
    ///     assert_eq!(c.search, domain.into_iter().collect::<Vec<_>>());
    /// }
    /// # }
    /// ```
    pub fn system() -> Config {
        // Bytes, as glibc: a stray non-UTF-8 byte must not drop the file.
        let text =
            std::fs::read("/etc/resolv.conf").map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let (mut config, listed) = Config::parse_resolv_conf(&text);
        if !listed {
            config.search = host_domain(&local_host_name()).into_iter().collect();
        }
        config.hosts_file = Some(PathBuf::from("/etc/hosts"));
        if let Some(domains) = std::env::var_os("LOCALDOMAIN") {
            config.search = domains.to_string_lossy().split_whitespace().filter_map(search_domain).collect();
        }
        if let Some(options) = std::env::var_os("RES_OPTIONS") {
            config.set_options(options.to_string_lossy().split_whitespace());
        }
        config
    }

    /// Applies resolv.conf options (`timeout:N`, `attempts:N`, `ndots:N`,
    /// `rotate`, `edns0`),
    /// clamped to glibc's ranges; others, and non-numeric values, are
    /// ignored.
    fn set_options<'a>(&mut self, options: impl Iterator<Item = &'a str>) {
        for opt in options {
            if let Some(n) = opt.strip_prefix("timeout:").and_then(|n| n.parse::<u64>().ok()) {
                self.timeout = Duration::from_secs(n.clamp(1, 30));
            } else if let Some(n) = opt.strip_prefix("attempts:").and_then(|n| n.parse::<u32>().ok()) {
                self.attempts = n.clamp(1, 5);
            } else if let Some(n) = opt.strip_prefix("ndots:").and_then(|n| n.parse::<i64>().ok()) {
                self.ndots = n.clamp(0, i64::from(MAX_NDOTS)) as u32;
            } else if opt == "rotate" {
                self.rotate = true;
            } else if opt == "edns0" {
                self.edns0 = true;
            }
        }
    }

    /// Reads the text of a resolv.conf: `nameserver ADDR` lines (the first
    /// three, as glibc), the
    /// search list (`search DOMAIN...` or `domain DOMAIN`; as in glibc the
    /// last of these lines wins, and `domain x` means the list `[x]`), and
    /// the `timeout:N`, `attempts:N`, `ndots:N`, `rotate` and `edns0` options (ndots clamped
    /// to glibc's `0..=15`). Search domains are lower-cased without their
    /// trailing dot, invalid ones dropped; a value that is not a number is
    /// ignored; everything else is ignored too. No hosts file is set.
    ///
    /// ```
    /// let c = guv::net::dns::Config::from_resolv_conf(
    ///     "# comment\nnameserver 127.0.0.53\nnameserver ::1\noptions timeout:1 attempts:3\n\
    ///      search Corp.Example. example.com\noptions ndots:2\n",
    /// );
    /// assert_eq!(c.nameservers, ["127.0.0.53:53".parse().unwrap(), "[::1]:53".parse().unwrap()]);
    /// assert_eq!(c.timeout, std::time::Duration::from_secs(1));
    /// assert_eq!(c.attempts, 3);
    /// assert_eq!(c.search, ["corp.example", "example.com"]);
    /// assert_eq!(c.ndots, 2);
    /// ```
    pub fn from_resolv_conf(text: &str) -> Config {
        Config::parse_resolv_conf(text).0
    }

    /// [`Config::from_resolv_conf`], and whether the text had a `search`
    /// or `domain` line.
    fn parse_resolv_conf(text: &str) -> (Config, bool) {
        let mut config = Config { nameservers: Vec::new(), ..Config::default() };
        let mut listed = false;
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace().peekable();
            let keyword = words.next();
            // glibc ignores a `search` or `domain` line with nothing after it.
            let has_value = words.peek().is_some();
            match keyword {
                Some("nameserver") => {
                    // An IPv6 zone ("fe80::1%eth0") is not supported: skip it.
                    // Only the first three count (glibc's MAXNS).
                    if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok())
                        && config.nameservers.len() < MAX_NAMESERVERS
                    {
                        config.nameservers.push(SocketAddr::new(ip, 53));
                    }
                }
                Some("search") if has_value => {
                    listed = true;
                    config.search = words.filter_map(search_domain).collect();
                }
                Some("domain") if has_value => {
                    listed = true;
                    config.search = words.next().and_then(search_domain).into_iter().collect();
                }
                Some("options") => config.set_options(words),
                _ => {}
            }
        }
        if config.nameservers.is_empty() {
            config.nameservers = Config::default().nameservers;
        }
        (config, listed)
    }

    /// The names the resolver asks the servers for `host`, in order, as
    /// glibc's `res_search` does:
    ///
    /// - a name ending in `.` is absolute: only the name itself (without
    ///   the dot), never a search suffix;
    /// - a name with at least [`ndots`](Config::ndots) dots is tried as
    ///   given first, then with each [`search`](Config::search) suffix;
    /// - a name with fewer dots tries the suffixes first, then as given.
    ///
    /// Names are lower-cased; a suffix that would make the name invalid
    /// (longer than 253 bytes, say) is left out. The hosts file is not
    /// involved: [`Resolver::lookup_ip`](super::Resolver::lookup_ip) looks
    /// `host` up there, as given, before asking for any of these.
    ///
    /// Errors: `InvalidInput` when `host` itself is not a valid name.
    ///
    /// ```
    /// use guv::net::dns::Config;
    /// let c = Config { search: vec!["corp.example".into(), "example.com".into()], ..Config::default() };
    /// assert_eq!(c.query_names("db").unwrap(), ["db.corp.example", "db.example.com", "db"]);
    /// assert_eq!(c.query_names("db.eu").unwrap(), ["db.eu", "db.eu.corp.example", "db.eu.example.com"]);
    /// assert_eq!(c.query_names("DB.").unwrap(), ["db"]);
    /// assert!(c.query_names("a..b").is_err());
    /// ```
    pub fn query_names(&self, host: &str) -> io::Result<Vec<String>> {
        let name = query::normalize(host)?;
        if host.ends_with('.') {
            return Ok(vec![name]);
        }
        let suffixed: Vec<String> = self
            .search
            .iter()
            .filter_map(|domain| {
                let domain = domain.strip_suffix('.').unwrap_or(domain);
                if domain.is_empty() {
                    return None;
                }
                query::normalize(&format!("{name}.{domain}")).ok()
            })
            .collect();
        let dots = name.bytes().filter(|&b| b == b'.').count();
        let mut names = Vec::with_capacity(suffixed.len() + 1);
        if dots >= self.ndots as usize {
            names.push(name);
            names.extend(suffixed);
        } else {
            names.extend(suffixed);
            names.push(name);
        }
        Ok(names)
    }
}

/// The machine's host name (Linux: `/proc/sys/kernel/hostname`; empty
/// where it cannot be read).
fn local_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

/// The domain glibc searches for a host name when resolv.conf names none:
/// what follows its first dot, if that is a valid name.
fn host_domain(host: &str) -> Option<String> {
    host.split_once('.').and_then(|(_, domain)| search_domain(domain))
}

/// One search-list entry from resolv.conf: a valid name, lower-cased, no
/// trailing dot (`None` for anything else, including the root `.`).
fn search_domain(word: &str) -> Option<String> {
    query::normalize(word).ok()
}

#[cfg(test)]
mod tests {
    use super::{Config, host_domain};

    #[test]
    fn a_host_name_gives_its_domain_as_the_default_search_list() {
        assert_eq!(host_domain("build7.CI.Example.org").as_deref(), Some("ci.example.org"));
        assert_eq!(host_domain("build7"), None);
        assert_eq!(host_domain("build7."), None, "a trailing dot alone names no domain");
        assert_eq!(host_domain("a..b"), None, "an invalid domain is not searched");
    }

    #[test]
    fn the_parser_tells_whether_the_file_named_a_search_list() {
        assert!(!Config::parse_resolv_conf("nameserver 127.0.0.1\noptions ndots:2\n").1);
        assert!(!Config::parse_resolv_conf("search\n").1, "an empty search line does not count, as in glibc");
        assert!(Config::parse_resolv_conf("domain corp.example\n").1);
        // A listed but unusable domain still counts: the host name is not searched then.
        let (config, listed) = Config::parse_resolv_conf("search a..b\n");
        assert!(listed && config.search.is_empty());
    }
}
