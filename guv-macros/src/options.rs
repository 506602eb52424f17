//! Parsing `key = value` attribute options into typed values, with errors
//! that name the valid keys and reject repeats.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, MetaNameValue, Token};

/// One parsed `key = value` option.
pub(crate) struct Opt {
    pub(crate) key: String,
    pub(crate) key_span: Span,
    pub(crate) value: Expr,
}

/// Parses `args` as comma-separated `key = value` pairs whose keys are in
/// `valid`; every problem becomes one combined error.
pub(crate) fn parse(args: TokenStream, attr: &str, valid: &[&str]) -> syn::Result<Vec<Opt>> {
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args).map_err(|e| {
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
    for pair in pairs {
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
        out.push(Opt { key, key_span: pair.path.span(), value: pair.value });
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
