//! Attribute macros for [guv](https://docs.rs/guv). Use them through the
//! `guv` crate (`#[guv::main]`), which re-exports them.
//!
//! Each macro follows the same path: parse the attribute's options into a
//! typed configuration, validate it (errors point at the offending token and
//! say how to fix it), then expand using absolute paths (`::guv::...`). On
//! an error the item is emitted unchanged next to the `compile_error!`, so
//! the rest of the crate still type-checks and IDEs keep working.

#![warn(missing_docs, unreachable_pub)]

mod entry;
mod options;

use proc_macro::TokenStream;

/// Runs the function as the main greenlet of a configured hub. See
/// `guv::main` for the options.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::main(args.into(), item.into()).into()
}
