//! Attribute macros for [guv](https://docs.rs/guv). Use them through the
//! `guv` crate (`#[guv::main]`, `#[guv::patched]`, ...), which re-exports
//! them and documents each one.
//!
//! Each macro follows the same path: parse the attribute's options into a
//! typed configuration, validate it (errors point at the offending token and
//! say how to fix it), then expand using absolute paths (`::guv::...`). On
//! an error the item is emitted unchanged next to the `compile_error!`, so
//! the rest of the crate still type-checks and IDEs keep working.
//!
//! # How patching works
//!
//! `rewrite/` walks the item's tokens (`proc_macro2` only, no syntax
//! tree) and swaps the module prefix of every std path that `table.rs`
//! lists — `std::net::TcpStream` becomes `::guv::green::net::TcpStream` —
//! in expressions, types, patterns, macro arguments and `use` trees
//! (`usetree.rs` splits grouped trees per leaf). `guv::original!(path)` and
//! `guv::is_patched!(group)` are replaced during the same walk.
//!
//! # Modules
//!
//! - `patched.rs`: `#[guv::patched]`; `import.rs`: `guv::import_patched!`;
//!   `markers.rs`: `original!` / `is_patched!` outside patched items.
//! - `entry.rs`: `#[guv::main]`; `green.rs`: `#[guv::green]`;
//!   `testattr.rs`: `#[guv::test]`; `options.rs`: their `key = value`
//!   options; `attr.rs`: what they share (parse, validate, the error output).
//! - `groups.rs`: the group list and `crate = "..."`; `table.rs`: which std
//!   paths each group rewrites; `rewrite/` and `usetree.rs`: the walk.

#![warn(missing_docs, unreachable_pub)]

mod attr;
mod entry;
mod green;
mod groups;
mod import;
mod markers;
mod options;
mod patched;
mod rewrite;
mod table;
mod testattr;
mod usetree;

use proc_macro::TokenStream;

/// Runs the function as the main greenlet of a configured hub, with its
/// body patched. See `guv::main` for the options.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::main(args.into(), item.into()).into()
}

/// Rewrites the blocking std paths of an item to their green twins. See
/// `guv::patched`.
#[proc_macro_attribute]
pub fn patched(args: TokenStream, item: TokenStream) -> TokenStream {
    patched::patched(args.into(), item.into()).into()
}

/// Names the unpatched std item inside a patched one. See `guv::original`.
#[proc_macro]
pub fn original(args: TokenStream) -> TokenStream {
    markers::original(args.into()).into()
}

/// Whether the enclosing item is patched for a group. See `guv::is_patched`.
#[proc_macro]
pub fn is_patched(args: TokenStream) -> TokenStream {
    markers::is_patched(args.into()).into()
}

/// Makes calling the function spawn its (patched) body as a greenlet and
/// return its `GreenThread`. See `guv::green`.
#[proc_macro_attribute]
pub fn green(args: TokenStream, item: TokenStream) -> TokenStream {
    green::green(args.into(), item.into()).into()
}

/// A test whose body runs patched on a fresh hub, with a timeout and a
/// check for greenlets left behind. See `guv::test`.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    testattr::test(args.into(), item.into()).into()
}

/// Includes a source file as an inline module, patched. See
/// `guv::import_patched`.
#[proc_macro]
pub fn import_patched(input: TokenStream) -> TokenStream {
    import::import_patched(input.into()).into()
}
