//! Parsing `key = value` attribute options into typed values, with errors
//! that name the valid keys and reject repeats.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, Meta, Token};

use crate::groups::CratePath;

/// One parsed `key = value` option, or a bare flag (`allow_leaks`), whose
/// value is then `true`.
pub(crate) struct Opt {
    pub(crate) key: String,
    pub(crate) value: Expr,
}

/// Parses `args` as comma-separated `key = value` pairs whose keys are in
/// `valid`; every problem becomes one combined error.
pub(crate) fn parse(args: TokenStream, attr: &str, valid: &[&str]) -> syn::Result<Vec<Opt>> {
    parse_with_flags(args, attr, valid, &[])
}

/// Like [`parse`], where the keys in `flags` may also stand alone
/// (`allow_leaks` means `allow_leaks = true`).
pub(crate) fn parse_with_flags(args: TokenStream, attr: &str, valid: &[&str], flags: &[&str]) -> syn::Result<Vec<Opt>> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args).map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("#[{attr}] takes options of the form `key = value`, such as `{} = ...`: {e}", valid[0]),
        )
    })?;
    let mut out: Vec<Opt> = Vec::new();
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for meta in metas {
        let pair = match meta {
            Meta::NameValue(pair) => pair,
            Meta::Path(path) if path.get_ident().is_some_and(|i| flags.iter().any(|f| i == f)) => {
                let key = path.get_ident().map(ToString::to_string).unwrap_or_default();
                if out.iter().any(|o| o.key == key) {
                    push(syn::Error::new(path.span(), format!("#[{attr}]: option `{key}` is given twice; keep one")));
                    continue;
                }
                out.push(Opt { key, value: syn::parse_quote_spanned!(path.span()=> true) });
                continue;
            }
            other => {
                let path = other.path();
                let name = path.get_ident().map(|i| i.to_string());
                let msg = match name.as_deref() {
                    Some(key) if valid.contains(&key) => {
                        format!("#[{attr}]: option `{key}` needs a value, as in `{key} = ...`")
                    }
                    _ => unknown(attr, &format!("`{}`", quote::ToTokens::to_token_stream(path)), valid),
                };
                push(syn::Error::new(other.span(), msg));
                continue;
            }
        };
        let key = match pair.path.get_ident() {
            Some(ident) => ident.to_string(),
            None => {
                push(syn::Error::new(pair.path.span(), unknown(attr, "this path", valid)));
                continue;
            }
        };
        if !valid.contains(&key.as_str()) {
            push(syn::Error::new(pair.path.span(), unknown(attr, &format!("`{key}`"), valid)));
            continue;
        }
        if out.iter().any(|o| o.key == key) {
            push(syn::Error::new(pair.path.span(), format!("#[{attr}]: option `{key}` is given twice; keep one")));
            continue;
        }
        out.push(Opt { key, value: pair.value });
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn unknown(attr: &str, what: &str, valid: &[&str]) -> String {
    let list = valid.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    format!("#[{attr}]: unknown option {what}; valid options are {list}")
}

/// The option's value as a boolean literal.
pub(crate) fn boolean(opt: &Opt, attr: &str) -> syn::Result<bool> {
    match &opt.value {
        Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => Ok(b.value),
        other => Err(syn::Error::new(
            other.span(),
            format!("#[{attr}]: `{}` takes `true` or `false`, or stands alone: `{}`", opt.key, opt.key),
        )),
    }
}

/// The value of `crate = "..."`: the path of the `guv` crate.
pub(crate) fn crate_path(opt: &Opt, attr: &str) -> syn::Result<CratePath> {
    let lit = string(opt, attr)?;
    CratePath::parse(&lit.value()).ok_or_else(|| {
        syn::Error::new(lit.span(), format!("#[{attr}]: `crate` must name a path, such as `crate = \"my_guv\"`"))
    })
}

// The stack sizes the hub accepts: guv's `MIN_STACK_SIZE` and
// `MAX_STACK_SIZE` (greenlet/stack.rs).
const MIN_STACK: u128 = 16 * 1024;
const MAX_STACK: u128 = 1 << 30;

/// A `stack_size = N` option, in the range the hub accepts.
pub(crate) fn stack_size(opt: &Opt, attr: &str) -> syn::Result<usize> {
    let n = int(opt, attr)?;
    if !(MIN_STACK..=MAX_STACK).contains(&n) {
        return Err(syn::Error::new(
            opt.value.span(),
            format!(
                "#[{attr}]: stack_size = {n} is out of range; use at least {MIN_STACK} (16 KiB) and at most {MAX_STACK} (1 GiB)"
            ),
        ));
    }
    Ok(n as usize)
}

/// The option's value as an integer literal.
pub(crate) fn int(opt: &Opt, attr: &str) -> syn::Result<u128> {
    match &opt.value {
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => i.base10_parse::<u128>(),
        other => Err(syn::Error::new(
            other.span(),
            format!("#[{attr}]: `{}` takes an integer literal, such as `{} = 65536`", opt.key, opt.key),
        )),
    }
}

/// The option's value as a string literal.
pub(crate) fn string(opt: &Opt, attr: &str) -> syn::Result<syn::LitStr> {
    match &opt.value {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => Ok(s.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!("#[{attr}]: `{}` takes a string literal, such as `{} = \"my_guv\"`", opt.key, opt.key),
        )),
    }
}
