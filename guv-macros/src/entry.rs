//! `#[guv::main]`: parse → typed config → validate → expand (configure
//! the hub, then patch the whole function with every group).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

use crate::attr;
use crate::groups::{CratePath, PatchConfig};
use crate::options;
use crate::rewrite::patch_with_errors;

const ATTR: &str = "guv::main";

/// `#[guv::main]`'s options, validated.
struct Config {
    stack_size: Option<usize>,
    krate: CratePath,
}

fn config(args: TokenStream) -> syn::Result<Config> {
    let mut cfg = Config { stack_size: None, krate: CratePath::default() };
    for opt in options::parse(args, ATTR, &["stack_size", "crate"])? {
        match opt.key.as_str() {
            "stack_size" => cfg.stack_size = Some(options::stack_size(&opt, ATTR)?),
            "crate" => cfg.krate = options::crate_path(&opt, ATTR)?,
            _ => unreachable!("options::parse only returns valid keys"),
        }
    }
    Ok(cfg)
}

fn validate(f: &ItemFn) -> syn::Result<()> {
    let sig = &f.sig;
    if let Some(a) = &sig.asyncness {
        return Err(syn::Error::new(
            a.span(),
            "#[guv::main] goes on a plain `fn`: guv runs blocking-style code, so remove `async`",
        ));
    }
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new(
            c.span(),
            "#[guv::main] cannot go on a `const fn`: it sets up the hub when the program starts; remove `const`",
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new(
            sig.inputs.span(),
            "#[guv::main] functions take no arguments; read them with `std::env::args()` instead",
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(sig.generics.span(), "#[guv::main] functions cannot be generic"));
    }
    Ok(())
}

fn expand(cfg: &Config, f: ItemFn) -> TokenStream {
    let krate = cfg.krate.tokens(Span::call_site(), &[]);
    let stack = attr::option(cfg.stack_size);
    let ItemFn { attrs, vis, sig, block } = f;
    let (attrs, inner) = attr::split_attrs(attrs);
    let prelude = quote_spanned! {sig.ident.span()=>
        #krate::__private::configure_main(#stack);
    };
    let item = quote! {
        #(#attrs)*
        #vis #sig {
            #(#inner)*
            #prelude
            #block
        }
    };
    patch_with_errors(item, &PatchConfig::all(cfg.krate.clone()))
}

/// The whole macro: on error, the item plus `compile_error!`.
pub(crate) fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    attr::on_fn(ATTR, args, item, config, validate, expand)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str) -> String {
        main(args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    #[test]
    fn plain_main_gets_the_prelude_before_its_body() {
        let out = expand_str("", "fn main() { work(); }");
        assert!(out.contains(":: guv :: __private :: configure_main (:: core :: option :: Option :: None)"), "{out}");
        assert!(out.find("configure_main").unwrap() < out.find("work").unwrap());
        assert!(!out.contains("compile_error"));
        let out = expand_str("", "#[inline(never)] fn main() { #![allow(unused)] work(); }");
        assert!(out.starts_with("# [inline (never)] fn main () { # ! [allow (unused)] :: guv :: __private"), "{out}");
    }

    #[test]
    fn the_body_is_patched_with_every_group() {
        let out = expand_str(
            "crate = \"my_guv\"",
            "fn main() -> std::io::Result<()> { let l = std::net::TcpListener::bind(a)?; std::thread::sleep(d); Ok(()) }",
        );
        assert!(out.contains("-> std :: io :: Result < () >"), "{out}");
        assert!(out.contains("my_guv :: green :: net :: TcpListener :: bind"), "{out}");
        assert!(out.contains("my_guv :: green :: thread :: sleep"), "{out}");
        let out = expand_str("", "fn main() { assert!(guv::is_patched!(fs)); }");
        assert!(out.contains("assert ! (true)"), "{out}");
    }

    #[test]
    fn options_are_typed_and_checked() {
        let out = expand_str("stack_size = 65536, crate = \"my_guv\"", "fn main() {}");
        assert!(
            out.contains("my_guv :: __private :: configure_main (:: core :: option :: Option :: Some (65536usize))"),
            "{out}"
        );
        for (args, msg) in [
            ("stack_size = 0", "out of range"),
            ("stack_size = \"big\"", "takes an integer literal"),
            ("stack = 1", "valid options are `stack_size`, `crate`"),
            ("stack_size = 65536, stack_size = 65536", "given twice"),
            ("crate = \"not a path\"", "must name a path"),
        ] {
            let out = expand_str(args, "fn main() {}");
            assert!(out.contains("compile_error") && out.contains(msg), "{args}: {out}");
            assert!(out.contains("fn main ()"), "the item is kept next to the error: {out}");
        }
    }

    #[test]
    fn signatures_that_cannot_work_are_rejected() {
        assert!(expand_str("", "async fn main() {}").contains("remove `async`"));
        assert!(expand_str("", "const fn main() {}").contains("remove `const`"));
        assert!(expand_str("", "fn main(x: u32) {}").contains("take no arguments"));
        assert!(expand_str("", "fn main<T>() {}").contains("cannot be generic"));
        assert!(expand_str("", "struct S;").contains("#[guv::main] goes on a `fn`: expected `fn`"));
        let out = expand_str("", "fn main() { let x = ; }");
        assert!(out.contains("compile_error") && !out.contains("goes on a `fn`"), "{out}");
    }
}
