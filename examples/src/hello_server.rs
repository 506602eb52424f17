//! A plain TCP "hello" server on 127.0.0.1:8001: one greenlet per
//! connection, answering every HTTP request it reads with `Hello, World!`.
fn main() {}
