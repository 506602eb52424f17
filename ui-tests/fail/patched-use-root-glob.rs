// Not valid Rust: `use ::*` would glob-import every crate. The patching
// walk leaves the declaration as written, so rustc's own error points at
// the `*` (the macro used to panic on it).
#[guv::patched]
mod m {
    #[allow(unused_imports)]
    use ::{*, std::net::TcpStream};
}

fn main() {}
