//! Echo servers on each runtime compared by the `echo` and `idle_rss`
//! benchmarks: this benchmark binary re-run with `--serve RUNTIME` in a child
//! process pinned to core 0, so that its CPU time and memory can be read
//! from `/proc`. Peer runtimes are dev-dependencies, which only bench
//! targets (not the benches library) can use, hence this shared module.

// Each benchmark uses a part of this module.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use guv_benches::{pin_to_core, raise_fd_limit};

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
            if let Some(k) = line.strip_prefix("accepted ").and_then(|k| k.parse::<usize>().ok())
                && k >= n
            {
                return;
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
        "guv+polling" => {
            let backend = guv::hub::PollingBackend::new().expect("polling backend");
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
    if (*n).is_multiple_of(1000) {
        println!("accepted {n}");
        io::stdout().flush().unwrap();
    }
}

/// Announces the listener's `port`, then hands each accepted connection
/// to `spawn`, reporting every thousandth.
fn accept_loop<C>(port: u16, incoming: impl Iterator<Item = io::Result<C>>, mut spawn: impl FnMut(C)) {
    announce(port);
    let mut n = 0;
    for conn in incoming {
        let Ok(c) = conn else { continue };
        count_accept(&mut n);
        spawn(c);
    }
}

/// Sends back what `c` sends until it closes or fails.
fn echo(c: &mut (impl Read + Write)) {
    let mut buf = [0u8; 4096];
    while let Ok(k @ 1..) = c.read(&mut buf) {
        if c.write_all(&buf[..k]).is_err() {
            break;
        }
    }
}

fn serve_guv() {
    let l = guv::listen("127.0.0.1:0").unwrap();
    accept_loop(l.local_addr().unwrap().port(), l.incoming(), |mut c| {
        guv::Builder::new()
            .stack_size(32 * 1024)
            .spawn_n(move || {
                let _ = c.set_nodelay(true);
                echo(&mut c);
            })
            .unwrap();
    });
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
    accept_loop(l.local_addr().unwrap().port(), l.incoming(), |mut c| {
        may::go!(move || {
            let _ = c.set_nodelay(true);
            echo(&mut c);
        });
    });
}

fn serve_std() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    accept_loop(l.local_addr().unwrap().port(), l.incoming(), |mut c| {
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let _ = c.set_nodelay(true);
                echo(&mut c);
            })
            .unwrap();
    });
}
