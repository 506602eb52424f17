guv::import_patched!(server = "src/server.rs");

fn main() {}
