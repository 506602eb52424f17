guv::import_patched!(mod server = "src/no_such_server.rs");

fn main() {
    server::run();
}
