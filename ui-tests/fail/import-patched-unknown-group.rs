guv::import_patched!(mod server = "src/server.rs", net, sockets);

fn main() {}
