//! Shared helpers for the benchmarks in `benches/`: echo servers on each
//! runtime (run in a child process, pinned to one core, so that their CPU
//! time and memory can be read from `/proc`), and measuring tools.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub mod epoll;

/// The runtimes compared: guv as shipped, guv on the raw-epoll backend of
/// [`epoll`], and the peers.
pub const RUNTIMES: [&str; 5] = ["guv", "guv+epoll", "tokio", "may", "std"];

/// Pins the calling thread (and the threads it starts later) to `core`,
/// if the machine has it.
pub fn pin_to_core(core: usize) {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) <= core {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET writes within it;
    // sched_setaffinity(0, ..) applies to the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPU time (user + system) a process has used, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    (ticks(11) + ticks(12)) / tck
}

/// A process's resident memory, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Raises the soft limit on open files as far as the hard limit allows.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// The median of some numbers.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// An echo server child process: this benchmark binary re-run with
/// `--serve RUNTIME`. It prints `listening PORT`, then `accepted N` each
/// time another thousand connections have arrived.
pub struct Server {
    /// The child process.
    pub child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Server {
    /// Starts `runtime`'s server on core 0.
    pub fn start(runtime: &str) -> io::Result<Server> {
        let mut child =
            Command::new(std::env::current_exe()?).args(["--serve", runtime]).stdout(Stdio::piped()).spawn()?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let first = lines.next().transpose()?.unwrap_or_default();
        let port = first
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| io::Error::other(format!("{runtime} server said {first:?}")))?;
        Ok(Server { child, port, lines })
    }

    /// Waits until the server has reported `n` accepted connections.
    pub fn wait_accepted(&mut self, n: usize) {
        for line in self.lines.by_ref() {
            let line = line.unwrap_or_default();
            if let Some(k) = line.strip_prefix("accepted ").and_then(|k| k.parse::<usize>().ok()) {
                if k >= n {
                    return;
                }
            }
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// If this process was started as a server (`--serve RUNTIME`), runs it and
/// never returns.
pub fn serve_if_asked() {
    let args: Vec<String> = std::env::args().collect();
    let Some(i) = args.iter().position(|a| a == "--serve") else { return };
    let runtime = args.get(i + 1).cloned().unwrap_or_default();
    raise_fd_limit();
    pin_to_core(0);
    match runtime.as_str() {
        "guv" => serve_guv(),
        "guv+epoll" => {
            let backend = epoll::EpollBackend::new().expect("epoll backend");
            guv::hub::set_backend(Box::new(backend)).expect("set_backend before first use");
            serve_guv()
        }
        "tokio" => serve_tokio(),
        "may" => serve_may(),
        "std" => serve_std(),
        other => eprintln!("unknown runtime {other}"),
    }
    std::process::exit(1);
}

fn announce(port: u16) {
    println!("listening {port}");
    io::stdout().flush().unwrap();
}

fn count_accept(n: &mut usize) {
    *n += 1;
    if *n % 1000 == 0 {
        println!("accepted {n}");
        io::stdout().flush().unwrap();
    }
}

fn serve_guv() {
    let l = guv::listen("127.0.0.1:0").unwrap();
    announce(l.local_addr().unwrap().port());
    let mut n = 0;
    for conn in l.incoming() {
        let Ok(mut c) = conn else { continue };
        count_accept(&mut n);
        guv::Builder::new()
            .stack_size(32 * 1024)
            .spawn_n(move || {
                let _ = c.set_nodelay(true);
                let mut buf = [0u8; 4096];
                while let Ok(k @ 1..) = c.read(&mut buf) {
                    if c.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
            })
            .unwrap();
    }
}

fn serve_tokio() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        announce(l.local_addr().unwrap().port());
        let mut n = 0;
        loop {
            let Ok((mut c, _)) = l.accept().await else { continue };
            count_accept(&mut n);
            tokio::spawn(async move {
                let _ = c.set_nodelay(true);
                let mut buf = [0u8; 4096];
                while let Ok(k @ 1..) = c.read(&mut buf).await {
                    if c.write_all(&buf[..k]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
}

fn serve_may() {
    may::config().set_workers(1).set_stack_size(32 * 1024);
    let l = may::net::TcpListener::bind("127.0.0.1:0").unwrap();
    announce(l.local_addr().unwrap().port());
    let mut n = 0;
    for conn in l.incoming() {
        let Ok(mut c) = conn else { continue };
        count_accept(&mut n);
        may::go!(move || {
            let _ = c.set_nodelay(true);
            let mut buf = [0u8; 4096];
            while let Ok(k @ 1..) = c.read(&mut buf) {
                if c.write_all(&buf[..k]).is_err() {
                    break;
                }
            }
        });
    }
}

fn serve_std() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    announce(l.local_addr().unwrap().port());
    let mut n = 0;
    for conn in l.incoming() {
        let Ok(mut c) = conn else { continue };
        count_accept(&mut n);
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let _ = c.set_nodelay(true);
                let mut buf = [0u8; 4096];
                while let Ok(k @ 1..) = c.read(&mut buf) {
                    if c.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
            })
            .unwrap();
    }
}

/// Drives `conns` connections to 127.0.0.1:`port` for `dur`, each sending
/// `size`-byte messages and waiting for the echo (guv greenlets on the
/// calling thread). Returns the round trips completed.
pub fn echo_load(port: u16, conns: usize, size: usize, dur: Duration) -> u64 {
    let deadline = std::time::Instant::now() + dur;
    let gts: Vec<_> = (0..conns)
        .map(|_| {
            guv::spawn(move || {
                let mut s = guv::connect(("127.0.0.1", port)).unwrap();
                s.set_nodelay(true).unwrap();
                let msg = vec![7u8; size];
                let mut back = vec![0u8; size];
                let mut n = 0u64;
                while std::time::Instant::now() < deadline {
                    s.write_all(&msg).unwrap();
                    s.read_exact(&mut back).unwrap();
                    n += 1;
                }
                assert!(back == msg);
                n
            })
        })
        .collect();
    gts.into_iter().map(|g| g.wait().unwrap()).sum()
}
