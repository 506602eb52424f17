//! See tests/ui.rs: trybuild runs `pass/*.rs` and `fail/*.rs`.
