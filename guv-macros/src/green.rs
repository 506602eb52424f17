//! `#[guv::green]`: calling the function spawns its (patched) body as a
//! greenlet and returns the `GreenThread<T>` at once.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, GenericParam, Item, ItemFn, Lifetime, LitStr, PathArguments, ReturnType, Type,
    TypeParamBound, WherePredicate, parse_quote, parse_quote_spanned,
};

use crate::attr;
use crate::groups::{CratePath, Errors, PatchConfig};
use crate::options;
use crate::rewrite::{first_span, patch_with_errors};

const ATTR: &str = "guv::green";

/// `#[guv::green]`'s options, validated.
struct Config {
    name: Option<LitStr>,
    stack_size: Option<usize>,
    krate: CratePath,
}

fn config(args: TokenStream) -> syn::Result<Config> {
    let mut cfg = Config { name: None, stack_size: None, krate: CratePath::default() };
    for opt in options::parse(args, ATTR, &["name", "stack_size", "crate"])? {
        match opt.key.as_str() {
            "name" => cfg.name = Some(options::string(&opt, ATTR)?),
            "stack_size" => cfg.stack_size = Some(options::stack_size(&opt, ATTR)?),
            "crate" => cfg.krate = options::crate_path(&opt, ATTR)?,
            _ => unreachable!("options::parse only returns valid keys"),
        }
    }
    Ok(cfg)
}

/// The item as a fn, or an error that says what it is instead.
fn parse_fn(item: TokenStream) -> syn::Result<ItemFn> {
    let not_a_fn = |span: Span, what: &str| {
        syn::Error::new(
            span,
            format!(
                "#[guv::green] goes on a `fn`: calling it spawns the body as a greenlet; \
                 {what} is not called, so there is nothing to spawn"
            ),
        )
    };
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => Ok(f),
        Ok(Item::Const(c)) => Err(not_a_fn(c.const_token.span, "a `const`")),
        Ok(Item::Static(s)) => Err(not_a_fn(s.static_token.span, "a `static`")),
        Ok(Item::Struct(s)) => Err(not_a_fn(s.struct_token.span, "a `struct`")),
        Ok(Item::Enum(e)) => Err(not_a_fn(e.enum_token.span, "an `enum`")),
        Ok(Item::Impl(i)) => Err(not_a_fn(i.impl_token.span, "an `impl` block (put the attribute on its methods)")),
        Ok(other) => {
            let tokens = other.to_token_stream();
            let fn_kw = tokens.clone().into_iter().find(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "fn"));
            match fn_kw {
                // `fn f(self) -> u8;`: a trait's (or an extern block's)
                // declaration, which syn keeps as tokens.
                Some(kw) => Err(syn::Error::new(
                    kw.span(),
                    "#[guv::green] needs the fn's body, to spawn it: a fn declared without one has nothing to run; put the attribute on the method in the `impl` (or give the trait method a default body)",
                )),
                None => Err(not_a_fn(first_span(&tokens), "this item")),
            }
        }
        Err(e) => Err(syn::Error::new(e.span(), format!("#[guv::green] goes on a `fn` with a body: {e}"))),
    }
}

/// Everything about the signature that cannot work once the body runs
/// later, on another stack.
fn validate(f: &mut ItemFn) -> syn::Result<()> {
    let mut errors = Errors::default();
    let sig = &mut f.sig;
    if let Some(a) = &sig.asyncness {
        errors.push(syn::Error::new(
            a.span(),
            "#[guv::green] goes on a plain `fn`: greenlets run blocking-style code, so remove `async` (and any `.await`)",
        ));
    }
    if let Some(u) = &sig.unsafety {
        errors.push(syn::Error::new(
            u.span(),
            "#[guv::green] cannot go on an `unsafe fn`: the body runs later, on a greenlet, outside the caller's `unsafe` block; make the fn safe and put an `unsafe { ... }` block inside",
        ));
    }
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new(
            c.span(),
            "#[guv::green] cannot go on a `const fn`: the body runs on a greenlet, never at compile time; remove `const`",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new(abi.span(), "#[guv::green] cannot go on an `extern` fn: remove the ABI"));
    }
    for param in &sig.generics.params {
        if let GenericParam::Lifetime(l) = param {
            errors.push(syn::Error::new_spanned(
                l,
                format!(
                    "#[guv::green]: the greenlet may outlive the call, so the fn cannot borrow; remove `{}` and take owned arguments",
                    l.lifetime
                ),
            ));
        }
    }
    for arg in &mut sig.inputs {
        match arg {
            FnArg::Receiver(r) if r.reference.is_some() || matches!(*r.ty, Type::Reference(_)) => {
                errors.push(syn::Error::new_spanned(
                    &*r,
                    "#[guv::green]: `&self` borrows, but the greenlet may outlive the call; take `self` by value (on a cloned handle, say), or `self: Rc<Self>` / `self: Arc<Self>`",
                ));
            }
            // `self: Pin<&mut Self>`: a borrow inside the receiver's type.
            FnArg::Receiver(r) => check_owned(&mut r.ty.clone(), &mut errors),
            FnArg::Typed(pat) => check_owned(&mut pat.ty, &mut errors),
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output
        && contains_impl_trait(ty)
    {
        errors.push(syn::Error::new_spanned(
            ty,
            "#[guv::green] needs the greenlet's result type by name, to return `GreenThread<T>`; write the concrete type instead of `impl Trait`",
        ));
    }
    errors.finish()
}

/// Rejects borrowed argument types; makes `impl Trait` arguments
/// `'static`, as the greenlet keeps them.
fn check_owned(ty: &mut Type, errors: &mut Errors) {
    match ty {
        Type::Reference(r) => {
            if r.lifetime.as_ref().is_some_and(|l| l.ident == "static") {
                check_owned(&mut r.elem, errors);
            } else {
                errors.push(syn::Error::new_spanned(
                    &*r,
                    "#[guv::green]: the greenlet may outlive the call, so arguments cannot borrow; take an owned value (`String` for `&str`, `Vec<T>` for `&[T]`) or a `&'static` one",
                ));
            }
        }
        Type::ImplTrait(it) => {
            for b in &mut it.bounds {
                if let TypeParamBound::Trait(t) = b {
                    check_path_args(&mut t.path, errors);
                }
            }
            it.bounds.push(TypeParamBound::Lifetime(Lifetime::new("'static", Span::call_site())));
        }
        Type::Path(p) => check_path_args(&mut p.path, errors),
        Type::Tuple(t) => t.elems.iter_mut().for_each(|e| check_owned(e, errors)),
        Type::Slice(s) => check_owned(&mut s.elem, errors),
        Type::Array(a) => check_owned(&mut a.elem, errors),
        Type::Paren(p) => check_owned(&mut p.elem, errors),
        Type::Group(g) => check_owned(&mut g.elem, errors),
        _ => {}
    }
}

fn check_path_args(path: &mut syn::Path, errors: &mut Errors) {
    for seg in &mut path.segments {
        if let PathArguments::AngleBracketed(args) = &mut seg.arguments {
            for arg in &mut args.args {
                match arg {
                    GenericArgument::Type(t) => check_owned(t, errors),
                    GenericArgument::Lifetime(l) if l.ident != "static" => {
                        errors.push(syn::Error::new(
                            l.span(),
                            format!(
                                "#[guv::green]: the greenlet may outlive the call, so arguments cannot borrow for `{l}`; use owned data or `'static`"
                            ),
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    ty.to_token_stream().into_iter().any(|t| matches!(&t, proc_macro2::TokenTree::Ident(i) if i == "impl"))
}

fn expand(cfg: &Config, mut f: ItemFn) -> TokenStream {
    let krate = cfg.krate.tokens(Span::call_site(), &[]);
    let ret: Type = match &f.sig.output {
        ReturnType::Default => parse_quote!(()),
        // `GreenThread<!>` is not stable Rust: a greenlet that never
        // returns has no value to give, which `Infallible` says.
        ReturnType::Type(_, ty) if matches!(**ty, Type::Never(_)) => {
            parse_quote_spanned!(ty.span()=> ::core::convert::Infallible)
        }
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let ret_span = ret.span();
    f.sig.output = parse_quote_spanned! {ret_span=> -> #krate::GreenThread<#ret> };
    // The greenlet keeps the arguments (and `self`) until it runs. The
    // `'static` bound goes where the parameter's other bounds are, so that
    // clippy's `multiple_bound_locations` stays quiet.
    let has_receiver = f.sig.receiver().is_some();
    let generics = &mut f.sig.generics;
    let in_where: Vec<bool> = generics
        .type_params()
        .map(|t| {
            generics.where_clause.as_ref().is_some_and(|w| {
                w.predicates.iter().any(|p| {
                    matches!(p, WherePredicate::Type(pt)
                        if matches!(&pt.bounded_ty, Type::Path(tp) if tp.path.is_ident(&t.ident)))
                })
            })
        })
        .collect();
    let mut to_where = Vec::new();
    for (t, in_where) in generics.type_params_mut().zip(in_where) {
        if in_where {
            to_where.push(t.ident.clone());
        } else {
            t.bounds.push(parse_quote!('static));
        }
    }
    if has_receiver || !to_where.is_empty() {
        let where_clause = generics.make_where_clause();
        for t in to_where {
            where_clause.predicates.push(parse_quote!(#t: 'static));
        }
        if has_receiver {
            where_clause.predicates.push(parse_quote!(Self: 'static));
        }
    }
    let block = &f.block;
    let closure = quote_spanned! {ret_span=> move || -> #ret #block };
    let spawn = if cfg.name.is_none() && cfg.stack_size.is_none() {
        quote! { #krate::spawn(#closure) }
    } else {
        let name = cfg.name.as_ref().map(|n| quote!(.name(#n)));
        let stack = cfg.stack_size.map(|n| quote!(.stack_size(#n)));
        let fn_name = f.sig.ident.to_string();
        quote! {
            match #krate::Builder::new() #name #stack .spawn(#closure) {
                ::core::result::Result::Ok(gt) => gt,
                ::core::result::Result::Err(e) => ::core::panic!("#[guv::green] fn {}: {}", #fn_name, e),
            }
        }
    };
    let ItemFn { attrs, vis, sig, .. } = f;
    let (attrs, inner) = attr::split_attrs(attrs);
    let item = quote! {
        #(#attrs)*
        #vis #sig {
            #(#inner)*
            #spawn
        }
    };
    patch_with_errors(item, &PatchConfig::all(cfg.krate.clone()))
}

/// The whole macro: on error, the item plus `compile_error!`.
pub(crate) fn green(args: TokenStream, item: TokenStream) -> TokenStream {
    let result = config(args).and_then(|cfg| {
        let mut f = parse_fn(item.clone())?;
        validate(&mut f)?;
        Ok((cfg, f))
    });
    match result {
        Ok((cfg, f)) => expand(&cfg, f),
        Err(e) => attr::error_with(e, item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str) -> String {
        green(args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    #[test]
    fn the_body_is_spawned_and_patched() {
        let out = expand_str("", "pub fn fetch(n: u64) -> std::io::Result<u64> { std::thread::sleep(d); Ok(n) }");
        assert!(
            out.contains("pub fn fetch (n : u64) -> :: guv :: GreenThread < std :: io :: Result < u64 > >"),
            "{out}"
        );
        assert!(
            out.contains(":: guv :: spawn (move || -> std :: io :: Result < u64 > { :: guv :: green :: thread :: sleep (d) ; Ok (n) })"),
            "{out}"
        );
        let out = expand_str("", "fn unit() { work() }");
        assert!(out.contains("-> :: guv :: GreenThread < () >"), "{out}");
        let out = expand_str("", "fn serve() -> ! { loop {} }");
        assert!(out.contains("-> :: guv :: GreenThread < :: core :: convert :: Infallible >"), "{out}");
        assert!(out.contains("move || -> :: core :: convert :: Infallible { loop { } }"), "{out}");
    }

    #[test]
    fn generics_receivers_and_impl_trait_become_static() {
        let out = expand_str("", "fn show<T: Clone>(self: Rc<Self>, x: T, d: impl Display) -> String { todo() }");
        assert!(out.contains("d : impl Display + 'static"), "{out}");
        assert!(out.contains("fn show < T : Clone + 'static >"), "{out}");
        assert!(out.contains("where Self : 'static"), "{out}");
        let out = expand_str("", "fn f<T>(x: T) -> T where T: Clone { x }");
        assert!(out.contains("fn f < T > (x : T)"), "{out}");
        assert!(out.contains("where T : Clone , T : 'static"), "{out}");
    }

    #[test]
    fn options_go_through_the_builder() {
        let out = expand_str("name = \"fetcher\", stack_size = 65536, crate = \"g\"", "fn f() {}");
        assert!(out.contains("g :: Builder :: new () . name (\"fetcher\") . stack_size (65536usize) . spawn"), "{out}");
        for (args, msg) in [
            ("stack_size = 1", "out of range"),
            ("nam = \"x\"", "valid options are `name`, `stack_size`, `crate`"),
            ("name = 3", "takes a string literal"),
        ] {
            let out = expand_str(args, "fn f() {}");
            assert!(out.contains(msg), "{args}: {out}");
        }
    }

    #[test]
    fn what_cannot_work_is_rejected_with_the_fix() {
        for (item, msg) in [
            ("async fn f() {}", "remove `async`"),
            ("unsafe fn f() {}", "make the fn safe"),
            ("const fn f() {}", "remove `const`"),
            ("extern \"C\" fn f() {}", "remove the ABI"),
            ("fn f<'a>(x: Foo<'a>) {}", "remove `'a`"),
            ("fn f(&self) {}", "`&self` borrows"),
            ("fn f(self: Pin<&mut Self>) {}", "arguments cannot borrow"),
            ("fn f(s: &str) {}", "arguments cannot borrow"),
            ("fn f(s: Vec<&str>) {}", "arguments cannot borrow"),
            ("fn f(s: Formatter<'_>) {}", "cannot borrow for `'_`"),
            ("fn f() -> impl Display {}", "instead of `impl Trait`"),
            ("const X: u32 = 1;", "a `const` is not called"),
            ("static X: u32 = 1;", "a `static` is not called"),
            ("struct S;", "a `struct` is not called"),
            ("fn f(self) -> u8;", "needs the fn's body"),
        ] {
            let out = expand_str("", item);
            assert!(out.contains("compile_error") && out.contains(msg), "{item}: {out}");
        }
        assert!(!expand_str("", "fn f(s: &'static str) {}").contains("compile_error"));
    }
}
