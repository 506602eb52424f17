//! What the attribute macros share: the error output (the item next to
//! `compile_error!`), the parse → config → validate → expand path of the
//! macros on a plain fn, and small expansion helpers.

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::{AttrStyle, Attribute, ItemFn};

/// `error` as `compile_error!`, followed by `item`: the rest of the crate
/// still sees the item, so errors do not cascade and IDEs keep working.
pub(crate) fn error_with(error: syn::Error, item: impl ToTokens) -> TokenStream {
    let mut out = error.to_compile_error();
    item.to_tokens(&mut out);
    out
}

/// The whole of an attribute macro on a fn (`#[guv::main]`,
/// `#[guv::test]`, named by `what`): parse `item` as a fn, read `args` with `config`, check
/// the fn with `validate`, then `expand`. A parse error comes alone; an
/// option or signature error comes with the fn unchanged.
pub(crate) fn on_fn<C>(
    what: &str,
    args: TokenStream,
    item: TokenStream,
    config: impl FnOnce(TokenStream) -> syn::Result<C>,
    validate: impl FnOnce(&ItemFn) -> syn::Result<()>,
    expand: impl FnOnce(&C, ItemFn) -> TokenStream,
) -> TokenStream {
    let f: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        // Not a fn at all: say which attribute wants one (syn alone says
        // "expected `fn`"). A fn that does not parse keeps syn's error.
        Err(e) if !item.clone().into_iter().any(|t| matches!(&t, TokenTree::Ident(i) if i == "fn")) => {
            return error_with(syn::Error::new(e.span(), format!("#[{what}] goes on a `fn`: {e}")), item);
        }
        Err(e) => return error_with(e, item),
    };
    match config(args).and_then(|cfg| validate(&f).map(|()| cfg)) {
        Ok(cfg) => expand(&cfg, f),
        Err(e) => error_with(e, f),
    }
}

/// `value` as a `::core::option::Option` expression.
pub(crate) fn option(value: Option<impl ToTokens>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

/// A fn's attributes split into outer ones (`#[...]`, written before the
/// fn) and inner ones (`#![...]` at the top of its body, which syn keeps in
/// the same list): a macro that rebuilds the fn must put the inner ones
/// back inside the new body, where they still apply to the whole fn.
pub(crate) fn split_attrs(attrs: Vec<Attribute>) -> (Vec<Attribute>, Vec<Attribute>) {
    attrs.into_iter().partition(|a| matches!(a.style, AttrStyle::Outer))
}
