//! `guv::original!(path)` and `guv::is_patched!(group)`: Python's
//! `original()` and `is_monkey_patched()`, at compile time.
//!
//! Inside a patched item the patching walk replaces both invocations
//! itself (see `rewrite/`); the proc macros here only run for
//! invocations outside every patched item.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};

use crate::groups::{Group, valid_groups};

/// A parsed `original!` argument: a path into std.
pub(crate) struct Original {
    /// The span of `std`.
    pub(crate) std_span: Span,
    /// Everything after `std`: `::net::TcpStream` (and any generic
    /// arguments that follow).
    pub(crate) rest: TokenStream,
}

/// Parses `std::net::TcpStream` or `::std::...`.
pub(crate) fn parse_original(args: TokenStream, name_span: Span) -> syn::Result<Original> {
    let tokens: Vec<TokenTree> = args.clone().into_iter().collect();
    let start = match tokens.as_slice() {
        [TokenTree::Punct(a), TokenTree::Punct(b), ..] if a.as_char() == ':' && b.as_char() == ':' => 2,
        _ => 0,
    };
    match (tokens.get(start), tokens.get(start + 1), tokens.get(start + 3)) {
        (Some(TokenTree::Ident(std)), Some(TokenTree::Punct(colon)), Some(TokenTree::Ident(_)))
            if crate::rewrite::unraw(&std.to_string()) == "std" && colon.as_char() == ':' =>
        {
            Ok(Original { std_span: std.span(), rest: tokens[start + 1..].iter().cloned().collect() })
        }
        _ => {
            let span = tokens.first().map_or(name_span, TokenTree::span);
            Err(syn::Error::new(
                span,
                "guv::original! takes a path into std, such as `guv::original!(std::net::TcpStream)`; \
                 any other path is already its own original",
            ))
        }
    }
}

/// Parses the group name of `is_patched!(net)`.
pub(crate) fn parse_is_patched(args: TokenStream, name_span: Span) -> syn::Result<Group> {
    let mut tokens: Vec<TokenTree> = args.into_iter().collect();
    if matches!(tokens.last(), Some(TokenTree::Punct(p)) if p.as_char() == ',') {
        tokens.pop();
    }
    // A name passed through a `macro_rules!` arrives wrapped in an
    // invisible group.
    if let [TokenTree::Group(g)] = tokens.as_slice()
        && g.delimiter() == Delimiter::None
    {
        tokens = g.stream().into_iter().collect();
    }
    match tokens.as_slice() {
        [TokenTree::Ident(id)] => Group::from_name(&id.to_string()).ok_or_else(|| {
            syn::Error::new(
                id.span(),
                format!("guv::is_patched!: unknown group `{id}`; valid groups are {}", valid_groups()),
            )
        }),
        _ => Err(syn::Error::new(
            tokens.first().map_or(name_span, TokenTree::span),
            format!(
                "guv::is_patched! takes one group name, such as `guv::is_patched!(net)`; valid groups are {}",
                valid_groups()
            ),
        )),
    }
}

/// `original!` outside a patched item: an error, since there the std path
/// already names the original. (Only the error: in expression and type
/// position the expansion must be a single expression or type.)
pub(crate) fn original(args: TokenStream) -> TokenStream {
    let name_span = Span::call_site();
    match parse_original(args, name_span) {
        Ok(o) => syn::Error::new(
            o.std_span,
            "guv::original! only means something inside an item guv patches \
             (#[guv::patched], #[guv::green], #[guv::test], #[guv::main] or guv::import_patched!); \
             here the std path already names the original: remove the `guv::original!( )` around it",
        )
        .to_compile_error(),
        Err(e) => e.to_compile_error(),
    }
}

/// `is_patched!` outside a patched item: `false` (after checking the name).
pub(crate) fn is_patched(args: TokenStream) -> TokenStream {
    match parse_is_patched(args, Span::call_site()) {
        Ok(_) => quote::quote!(false),
        Err(e) => e.to_compile_error(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_needs_a_std_path() {
        let o = parse_original("::std::sync::Mutex<u8>".parse().unwrap(), Span::call_site()).unwrap();
        assert_eq!(o.rest.to_string(), ":: sync :: Mutex < u8 >");
        for bad in ["TcpStream", "core::cell::Cell", "std", ""] {
            let e = parse_original(bad.parse().unwrap(), Span::call_site()).err().unwrap();
            assert!(e.to_string().contains("takes a path into std"), "{bad}");
        }
        let out = original("std::net::TcpStream".parse().unwrap()).to_string();
        assert!(out.contains("compile_error") && out.contains("remove the"), "{out}");
    }

    #[test]
    fn is_patched_is_false_outside_and_checks_the_name() {
        assert_eq!(is_patched("net".parse().unwrap()).to_string(), "false");
        assert_eq!(is_patched("fs,".parse().unwrap()).to_string(), "false");
        let out = is_patched("socket".parse().unwrap()).to_string();
        assert!(out.contains("unknown group `socket`; valid groups are `net`"), "{out}");
        let out = is_patched("net, fs".parse().unwrap()).to_string();
        assert!(out.contains("takes one group name"), "{out}");
    }
}
