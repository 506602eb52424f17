//! guv::wsgi against real clients (curl, Python's http.client and requests,
//! wrk) and with several worker hubs. The tools come from
//! `.ci/install-deps`.

use std::collections::HashSet;
use std::io::Read;
use std::process::Command;
use std::sync::Mutex;

use guv::wsgi::http::{Request, Response, StatusCode};
use guv::wsgi::{Body, Server};
use guv_tests::http::{Client, TestServer, require_tool};

fn app(mut req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/echo" => {
            let mut body = Vec::new();
            req.body_mut().read_to_end(&mut body).unwrap();
            Response::new(Body::from(body))
        }
        "/stream" => Response::new(Body::from_reader(std::io::Cursor::new(b"0123456789".repeat(500)))),
        "/thread" => Response::new(Body::from(std::thread::current().name().unwrap_or("?").to_owned())),
        _ => Response::new(Body::from("Hello, World!")),
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run the client");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn curl_reuses_the_connection_and_posts_chunked() {
    require_tool("curl", &["--version"]);
    let s = TestServer::start(Server::new(app));
    let url = format!("http://{}/", s.addr);
    let out = Command::new("curl").args(["-sv", &url, &url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, World!Hello, World!");
    assert!(
        stderr.contains("Re-using existing connection") || stderr.contains("Reusing existing connection"),
        "{stderr}"
    );

    let echo = format!("http://{}/echo", s.addr);
    let body = run(Command::new("curl").args([
        "-s",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "chunked via curl",
        &echo,
    ]));
    assert_eq!(body, "chunked via curl");
    // curl sends `Expect: 100-continue` for bodies over 1 MiB... or when asked.
    let body = run(Command::new("curl").args(["-s", "-H", "Expect: 100-continue", "--data-binary", "expected", &echo]));
    assert_eq!(body, "expected");
    let head = run(Command::new("curl").args(["-sI", &url]));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-length: 13"), "{head}");
}

const PYTHON: &str = r#"
import http.client, sys
host, port = sys.argv[1], int(sys.argv[2])
c = http.client.HTTPConnection(host, port, timeout=20)
for i in range(3):
    c.request("GET", "/")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"Hello, World!", i
c.request("POST", "/echo", body=iter([b"ab", b"cd"]), encode_chunked=True)
r = c.getresponse()
assert r.read() == b"abcd"
c.request("GET", "/stream")
r = c.getresponse()
assert r.getheader("Transfer-Encoding") == "chunked"
assert r.read() == b"0123456789" * 500
import requests
s = requests.Session()
for i in range(3):
    r = s.get(f"http://{host}:{port}/")
    assert r.status_code == 200 and r.text == "Hello, World!"
r = s.post(f"http://{host}:{port}/echo", data=(b"x" * 1000 for _ in range(10)))
assert r.content == b"x" * 10000
print("ok")
"#;

#[test]
fn python_http_client_and_requests() {
    require_tool("python3", &["-c", "import requests"]);
    let s = TestServer::start(Server::new(app));
    let out = run(Command::new("python3").args(["-c", PYTHON, "127.0.0.1", &s.addr.port().to_string()]));
    assert_eq!(out.trim(), "ok");
}

#[test]
fn wrk_gets_only_successful_answers() {
    require_tool("sh", &["-c", "command -v wrk"]);
    let s = TestServer::start(Server::new(app).access_log(false));
    // wrk counts an answer slower than its timeout (2 s by default) as a
    // socket error: a busy machine may hold the server back that long.
    let out = Command::new("wrk")
        .args(["-t1", "-c20", "-d1s", "--timeout", "20s", &format!("http://{}/", s.addr)])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("requests in"), "{report}");
    assert!(!report.contains("Non-2xx"), "{report}");
    assert!(!report.contains("Socket errors"), "{report}");
    let served: u64 = report.split_whitespace().take_while(|w| *w != "requests").last().unwrap().parse().unwrap();
    assert!(served > 100, "{report}");
}

#[test]
fn workers_share_the_port_and_stop_together() {
    let log = guv_tests::http::access_log();
    let s = TestServer::start(Server::new(app).workers(2));
    let mut names = HashSet::new();
    // SO_REUSEPORT hashes each connection's ports: 64 connections all on
    // one worker would happen with probability 2^-63.
    for _ in 0..64 {
        let mut c = Client::connect(s.addr);
        c.send(b"GET /thread HTTP/1.1\r\nHost: t\r\n\r\n");
        names.insert(c.read_response().unwrap().text());
    }
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains("guv-wsgi-1"), "{names:?}");
    // One SO_REUSEPORT listener per worker; after the shutdown none of
    // them is open (a connect to the port could reach another test's
    // listener that took the freed port).
    let listeners = guv_tests::net::listeners_on(s.addr.port());
    assert_eq!(listeners.len(), 2, "{listeners:?}");
    let port = s.addr.port();
    s.shutdown().unwrap();
    assert!(guv_tests::net::listeners_on(port).is_disjoint(&listeners));
    let lines = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let logged = lines.iter().filter(|l| l.contains("\"GET /thread HTTP/1.1\" 200")).count();
    assert!(logged >= 64, "{logged} of 64 logged");
}

static STOPPED_FROM_APP: Mutex<Option<guv::wsgi::ShutdownHandle>> = Mutex::new(None);

#[test]
fn serve_on_this_thread_stops_from_a_greenlet() {
    let listener = guv::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(|req: Request<Body>| {
        if req.uri().path() == "/stop" {
            STOPPED_FROM_APP.lock().unwrap().as_ref().unwrap().shutdown();
        }
        let mut r = Response::new(Body::from("bye"));
        *r.status_mut() = StatusCode::ACCEPTED;
        r
    });
    *STOPPED_FROM_APP.lock().unwrap() = Some(server.shutdown_handle());
    let client = std::thread::spawn(move || {
        let mut c = Client::connect(addr);
        c.send(b"GET /stop HTTP/1.1\r\nHost: t\r\n\r\n");
        c.read_response().unwrap().status
    });
    server.serve(listener).unwrap();
    assert_eq!(client.join().unwrap(), 202);
}
