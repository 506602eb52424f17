//! The benchmark's `may_minihttp` peer: the same response, one may worker.
//! Usage: `http_may_minihttp PORT`.

use std::io;

use may_minihttp::{HttpServer, HttpService, Request, Response};

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, _req: Request, res: &mut Response) -> io::Result<()> {
        res.header("Content-Type: text/plain");
        res.body("Hello, World!");
        Ok(())
    }
}

fn main() {
    let port = std::env::args().nth(1).unwrap_or_else(|| "8082".into());
    may::config().set_workers(1);
    let server = HttpServer(Hello).start(format!("127.0.0.1:{port}")).expect("bind");
    server.join().expect("server thread");
}
