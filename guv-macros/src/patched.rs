//! `#[guv::patched]` / `#[guv::patched(net, thread, ...)]`: parse the group
//! list, check the target, rewrite. No `syn` syntax tree is built, so the
//! macro stays cheap and works on code that does not parse yet.

use proc_macro2::{TokenStream, TokenTree};

use crate::attr;
use crate::groups;
use crate::rewrite::{first_span, patch_with_errors};

const ATTR: &str = "#[guv::patched]";

/// The whole macro: on error, the item unchanged plus `compile_error!`.
pub(crate) fn patched(args: TokenStream, item: TokenStream) -> TokenStream {
    let result = groups::parse_args(args, ATTR).and_then(|cfg| check_target(&item).map(|()| cfg));
    match result {
        Ok(cfg) => patch_with_errors(item, &cfg),
        Err(e) => attr::error_with(e, item),
    }
}

/// Any item with a body works (fn, impl, trait, inline mod, struct, type,
/// use, ...); an out-of-line `mod name;` has no tokens to rewrite.
fn check_target(item: &TokenStream) -> syn::Result<()> {
    let tokens: Vec<TokenTree> = item.clone().into_iter().collect();
    if tokens.is_empty() {
        return Err(syn::Error::new(
            first_span(item),
            "#[guv::patched] goes on an item: a fn, an impl block or an inline `mod { ... }`",
        ));
    }
    let mod_at = tokens.iter().position(|t| matches!(t, TokenTree::Ident(id) if id == "mod"));
    if let Some(i) = mod_at
        && matches!(tokens.last(), Some(TokenTree::Punct(p)) if p.as_char() == ';')
        && i + 3 == tokens.len()
    {
        return Err(syn::Error::new(
            tokens[i].span(),
            "#[guv::patched] cannot see into an out-of-line module: write \
             `guv::import_patched!(mod name = \"src/name.rs\");` instead",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(args: &str, item: &str) -> String {
        patched(args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    #[test]
    fn fns_impls_and_modules_are_rewritten() {
        let out = expand("", "fn f() -> std::io::Result<std::net::TcpStream> { todo() }");
        assert_eq!(out, "fn f () -> std :: io :: Result < :: guv :: green :: net :: TcpStream > { todo () }");
        let out = expand("sync", "impl S { fn m(&self) { let m = std::sync::Mutex::new(std::thread::current()); } }");
        assert!(out.contains(":: guv :: green :: sync :: Mutex :: new (std :: thread :: current ())"), "{out}");
        let out = expand("", "mod m { mod inner { use std::fs::File; } }");
        assert!(out.contains("use :: guv :: green :: fs :: File ;"), "{out}");
    }

    #[test]
    fn bad_arguments_keep_the_item_unchanged() {
        let out = expand("nett", "fn f() { std::thread::spawn(g); }");
        assert!(out.contains("compile_error") && out.contains("unknown group `nett`"), "{out}");
        assert!(out.contains("std :: thread :: spawn"), "{out}");
        assert!(!out.contains("green"), "{out}");
    }

    #[test]
    fn out_of_line_modules_point_to_import_patched() {
        let out = expand("", "pub mod server;");
        assert!(out.contains("import_patched"), "{out}");
        assert!(!expand("", "mod m { fn f() {} }").contains("compile_error"));
    }
}
