//! Plain std code with no mention of guv, imported by macros_import.rs.

use std::net::{Ipv4Addr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

pub fn names() -> [&'static str; 5] {
    [
        std::any::type_name::<TcpStream>(),
        std::any::type_name::<Mutex<u8>>(),
        std::any::type_name_of_val(&thread::spawn::<fn(), ()>),
        std::any::type_name::<Ipv4Addr>(),
        std::any::type_name::<Arc<u8>>(),
    ]
}

pub mod inner {
    pub fn stdin_name() -> &'static str {
        std::any::type_name_of_val(&std::io::stdin)
    }
}
