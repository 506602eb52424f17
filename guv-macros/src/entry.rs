//! `#[guv::main]`: parse → typed config → validate → expand.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, Path};

use crate::options;

const ATTR: &str = "guv::main";
const MIN_STACK: u128 = 16 * 1024;
const MAX_STACK: u128 = 1 << 30;

/// `#[guv::main]`'s options, validated.
struct Config {
    stack_size: Option<usize>,
    krate: Path,
}

fn config(args: TokenStream) -> syn::Result<Config> {
    let mut cfg = Config { stack_size: None, krate: syn::parse_quote!(::guv) };
    for opt in options::parse(args, ATTR, &["stack_size", "crate"])? {
        match opt.key.as_str() {
            "stack_size" => {
                let n = options::int(&opt, ATTR)?;
                if !(MIN_STACK..=MAX_STACK).contains(&n) {
                    return Err(syn::Error::new(
                        opt.value.span(),
                        format!(
                            "#[guv::main]: stack_size = {n} is out of range; use at least {MIN_STACK} (16 KiB) and at most {MAX_STACK} (1 GiB)"
                        ),
                    ));
                }
                cfg.stack_size = Some(n as usize);
            }
            "crate" => {
                let lit = options::string(&opt, ATTR)?;
                cfg.krate = lit.parse().map_err(|_| {
                    syn::Error::new(lit.span(), "#[guv::main]: `crate` must name a path, such as `crate = \"my_guv\"`")
                })?;
            }
            _ => unreachable!("options::parse only returns valid keys"),
        }
        let _ = opt.key_span;
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
    let krate = &cfg.krate;
    let stack = match cfg.stack_size {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    };
    let ItemFn { attrs, vis, sig, block } = f;
    let prelude = quote_spanned! {sig.ident.span()=>
        #krate::__private::configure_main(#stack);
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #prelude
            #block
        }
    }
}

/// The whole macro: on error, the item plus `compile_error!`.
pub(crate) fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let f: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(item);
            return out;
        }
    };
    match config(args).and_then(|cfg| validate(&f).map(|()| cfg)) {
        Ok(cfg) => expand(&cfg, f),
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(f.into_token_stream());
            out
        }
    }
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
        assert!(expand_str("", "fn main(x: u32) {}").contains("take no arguments"));
        assert!(expand_str("", "fn main<T>() {}").contains("cannot be generic"));
    }
}
