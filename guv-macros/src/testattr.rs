//! `#[guv::test]`: a `#[test]` whose (patched) body runs as the main
//! greenlet of a fresh hub, with a timeout and a check for greenlets left
//! behind. The run-time half is `guv::__private::run_test`.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitStr, ReturnType, Type};

use crate::attr;
use crate::groups::{CratePath, Errors, PatchConfig};
use crate::options;
use crate::rewrite::patch_with_errors;

const ATTR: &str = "guv::test";

/// `#[guv::test]`'s options, validated.
struct Config {
    stack_size: Option<usize>,
    timeout: Option<(Duration, LitStr)>,
    allow_leaks: bool,
    krate: CratePath,
}

fn config(args: TokenStream) -> syn::Result<Config> {
    let mut cfg = Config { stack_size: None, timeout: None, allow_leaks: false, krate: CratePath::default() };
    let opts =
        options::parse_with_flags(args, ATTR, &["stack_size", "timeout", "allow_leaks", "crate"], &["allow_leaks"])?;
    for opt in opts {
        match opt.key.as_str() {
            "stack_size" => cfg.stack_size = Some(options::stack_size(&opt, ATTR)?),
            "timeout" => {
                let lit = options::string(&opt, ATTR).map_err(|_| bad_timeout(opt.value.span()))?;
                let d = parse_duration(&lit.value()).ok_or_else(|| bad_timeout(lit.span()))?;
                cfg.timeout = Some((d, lit));
            }
            "allow_leaks" => cfg.allow_leaks = options::boolean(&opt, ATTR)?,
            "crate" => cfg.krate = options::crate_path(&opt, ATTR)?,
            _ => unreachable!("options::parse only returns valid keys"),
        }
    }
    Ok(cfg)
}

fn bad_timeout(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "#[guv::test]: `timeout` takes a duration above zero as a string, such as `timeout = \"5s\"`, \"500ms\" or \"2m\"",
    )
}

/// `"5s"`, `"1.5s"`, `"500ms"`, `"2m"`; above zero.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => number / 1000.0,
        "s" => number,
        "m" | "min" => number * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok().filter(|d| !d.is_zero())
}

fn validate(f: &ItemFn) -> syn::Result<()> {
    let mut errors = Errors::default();
    let sig = &f.sig;
    if let Some(a) = &sig.asyncness {
        errors.push(syn::Error::new(
            a.span(),
            "#[guv::test] goes on a plain `fn`: the test runs as a greenlet, so remove `async` (and any `.await`)",
        ));
    }
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new(
            c.span(),
            "#[guv::test] cannot go on a `const fn`: the test runs on a greenlet, never at compile time; remove `const`",
        ));
    }
    if let ReturnType::Type(_, ty) = &sig.output
        && ty.to_token_stream().into_iter().any(|t| matches!(&t, proc_macro2::TokenTree::Ident(i) if i == "impl"))
    {
        errors.push(syn::Error::new_spanned(
            ty,
            "#[guv::test] needs the test's return type by name (the body runs in a closure); write `()`, `std::process::ExitCode` or a `Result` instead of `impl Trait`",
        ));
    }
    if !sig.inputs.is_empty() {
        errors.push(syn::Error::new_spanned(&sig.inputs, "#[guv::test] functions take no arguments, as with #[test]"));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(&sig.generics, "#[guv::test] functions cannot be generic"));
    }
    for attr in &f.attrs {
        if attr.path().is_ident("test") {
            errors.push(syn::Error::new_spanned(
                attr,
                "#[guv::test] already makes the function a test: remove this #[test]",
            ));
        }
    }
    errors.finish()
}

fn expand(cfg: &Config, f: ItemFn) -> TokenStream {
    let krate = cfg.krate.tokens(Span::call_site(), &[]);
    let ItemFn { attrs, vis, mut sig, block } = f;
    let (attrs, inner) = attr::split_attrs(attrs);
    let ret = match &sig.output {
        ReturnType::Default => quote!(()),
        // `#[test]` takes `-> !`; a closure that never returns is `()`
        // too, which `run_test` accepts.
        ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)) => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    // A return type `run_test` does not accept is reported at the type:
    // the call carries its span.
    let out_span = match &sig.output {
        ReturnType::Default => Span::call_site(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    sig.output = ReturnType::Default;
    let name = sig.ident.to_string();
    let stack = attr::option(cfg.stack_size);
    let timeout = attr::option(cfg.timeout.as_ref().map(|(d, lit)| {
        // Seconds and nanoseconds apart: a duration past `u64::MAX`
        // nanoseconds (584 years) must not wrap to a short one.
        let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
        quote!((::core::time::Duration::new(#secs, #nanos), #lit))
    }));
    let allow_leaks = cfg.allow_leaks;
    let options = quote! {
        #krate::__private::TestOptions {
            name: #name,
            stack_size: #stack,
            timeout: #timeout,
            allow_leaks: #allow_leaks,
        }
    };
    let run_test = cfg.krate.tokens(out_span, &["__private", "run_test"]);
    let call = quote_spanned! {out_span=> #run_test(#options, move || -> #ret #block) };
    let item = quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis #sig {
            #(#inner)*
            #call
        }
    };
    patch_with_errors(item, &PatchConfig::all(cfg.krate.clone()))
}

/// The whole macro: on error, the item plus `compile_error!`.
pub(crate) fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    attr::on_fn(ATTR, args, item, config, validate, expand)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str) -> String {
        test(args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        for bad in ["5", "0s", "s", "5 hours", "-1s", "1e9999s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_body_runs_through_run_test_patched() {
        let out = expand_str(
            "timeout = \"5s\", allow_leaks, stack_size = 65536",
            "fn t() -> std::io::Result<()> { std::thread::spawn(f); Ok(()) }",
        );
        assert!(out.starts_with("# [:: core :: prelude :: v1 :: test] fn t ()"), "{out}");
        assert!(out.contains("allow_leaks : true"), "{out}");
        assert!(out.contains("Some (65536usize)"), "{out}");
        assert!(out.contains("Duration :: new (5u64 , 0u32) , \"5s\""), "{out}");
        assert!(
            out.contains("move || -> std :: io :: Result < () > { :: guv :: green :: thread :: spawn (f) ; Ok (()) }"),
            "{out}"
        );
        let out = expand_str("", "fn t() -> ! { panic!() }");
        assert!(out.contains("move || -> () { panic ! () }"), "{out}");
        let out = expand_str("", "#[should_panic] fn t() {}");
        assert!(out.contains("# [should_panic]") && out.contains("allow_leaks : false"), "{out}");
    }

    #[test]
    fn mistakes_are_reported_with_the_fix() {
        for (args, item, msg) in [
            ("timeout = 5", "fn t() {}", "`timeout` takes a duration"),
            ("timeout = \"5 parsecs\"", "fn t() {}", "`timeout` takes a duration"),
            ("allow_leaks = 1", "fn t() {}", "takes `true` or `false`"),
            ("allow_leaks, allow_leaks", "fn t() {}", "given twice"),
            ("leaks", "fn t() {}", "valid options are `stack_size`, `timeout`, `allow_leaks`, `crate`"),
            ("", "async fn t() {}", "remove `async`"),
            ("", "const fn t() {}", "remove `const`"),
            ("", "fn t() -> impl Termination {}", "instead of `impl Trait`"),
            ("", "fn t(x: u8) {}", "take no arguments"),
            ("", "fn t<T>() {}", "cannot be generic"),
            ("", "#[test] fn t() {}", "remove this #[test]"),
        ] {
            let out = expand_str(args, item);
            assert!(out.contains("compile_error") && out.contains(msg), "{args} {item}: {out}");
        }
    }
}
