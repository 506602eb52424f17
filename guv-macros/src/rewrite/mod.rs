//! The patching walk: every token tree of an item, groups and macro
//! arguments included, with std paths swapped for their green twins.
//!
//! It works on `proc_macro2` tokens only — no syntax tree — so it costs
//! little and copes with half-written code: anything it does not recognise
//! is passed through untouched. A path is recognised where one can start
//! (not after `::`, `.`, `'` or `$`): `std::a::b` or `::std::a::b`. `use`
//! declarations go through `usetree.rs`, and `original!` / `is_patched!`
//! invocations are replaced here.

mod paths;
mod scope;
#[cfg(test)]
mod tests;

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};

use crate::attr;
use crate::groups::{CratePath, Errors, PatchConfig, path_sep};
use crate::markers::{parse_is_patched, parse_original};
use crate::usetree::Binds;
use crate::{table, usetree};

pub(crate) use paths::unraw;
use paths::{Path, is_punct, path_at, use_decl_at, verbatim};
use scope::{declared_names, extern_crate_std_at, is_module_body, nested_crate_paths};

/// Rewrites token streams for one configuration, collecting errors from
/// misused `original!` / `is_patched!` invocations.
pub(crate) struct Patcher<'a> {
    cfg: &'a PatchConfig,
    /// Other paths to guv: the `crate = "..."` of guv attributes nested in
    /// the item, whose `is_patched!` / `original!` this walk decides too.
    nested_krates: Vec<CratePath>,
    /// Names that `std` itself has in the scope being walked (`use std as
    /// s;`, `use std::{self as s};`, `extern crate std as s;` declared in
    /// it or in an enclosing block, and not shadowed), when they become
    /// `green_std` (every group): there `s::thread_local!` is std's macro.
    std_aliases: Vec<String>,
    /// The aliases of std at the level of the module being walked (its
    /// items, not its blocks): what `use super::s;` or `use super::*;` in
    /// a module nested in it reaches.
    module_aliases: Vec<String>,
    /// Whether the next scope is the item's own (its level is a module's).
    root: bool,
    /// Whether aliases of std are followed at all (every group).
    follow_aliases: bool,
    errors: Errors,
}

impl<'a> Patcher<'a> {
    /// A walk over `item` (read only for the crate paths of nested guv
    /// attributes) with `cfg`.
    pub(crate) fn new(cfg: &'a PatchConfig, item: &TokenStream) -> Patcher<'a> {
        let mut nested_krates = Vec::new();
        nested_crate_paths(item, cfg, &mut nested_krates);
        // Aliases of std become `green_std` with every group only; with
        // fewer, every path through them stays std's, the macro included.
        let follow_aliases = cfg.groups == crate::groups::GroupSet::all();
        Patcher {
            cfg,
            nested_krates,
            std_aliases: Vec::new(),
            module_aliases: Vec::new(),
            root: true,
            follow_aliases,
            errors: Errors::default(),
        }
    }

    /// Whether `prefix` (a path's segments before the macro name) names guv.
    fn is_guv(&self, prefix: &[String]) -> bool {
        self.cfg.krate.matches(prefix) || self.nested_krates.iter().any(|k| k.matches(prefix))
    }

    /// The errors found so far.
    pub(crate) fn into_errors(self) -> Option<syn::Error> {
        self.errors.into_inner()
    }

    /// Rewrites a whole token stream (the item, or the tokens of a group
    /// that is no module's body).
    pub(crate) fn stream(&mut self, ts: TokenStream) -> TokenStream {
        self.scope(ts, false)
    }

    /// Rewrites the tokens of one scope: the item, a group, or a module's
    /// body (`module`), which sees none of the enclosing scopes' names.
    fn scope(&mut self, ts: TokenStream, module: bool) -> TokenStream {
        let tokens: Vec<TokenTree> = ts.into_iter().collect();
        let module_level = module || std::mem::take(&mut self.root);
        let outer = self.enter(&tokens, module);
        let outer_module = module_level.then(|| std::mem::replace(&mut self.module_aliases, self.std_aliases.clone()));
        let mut out = TokenStream::new();
        let mut i = 0;
        while i < tokens.len() {
            i = self.step(&tokens, i, &mut out);
        }
        if let Some(outer) = outer {
            self.std_aliases = outer;
        }
        if let Some(outer_module) = outer_module {
            self.module_aliases = outer_module;
        }
        out
    }

    /// Sets the aliases of std for a scope of `tokens` and returns the
    /// enclosing scope's, to restore (`None`: nothing changed). A `use` is
    /// in scope in the whole module or block it is declared in (before it
    /// too) and in the blocks nested there, not in nested modules (Rust
    /// resolves a module's paths from its own names, though `use super::s;`
    /// and `use super::*;` there bring the parent's alias in); a name
    /// declared in a nested scope shadows an outer alias.
    fn enter(&mut self, tokens: &[TokenTree], module: bool) -> Option<Vec<String>> {
        if !self.follow_aliases {
            return None;
        }
        // `super::` is resolved in modules only (in a block it names the
        // enclosing module's parent, whose aliases are not tracked).
        let names = declared_names(tokens, if module { &self.module_aliases } else { &[] });
        if names.is_empty() && (!module || self.std_aliases.is_empty()) {
            return None;
        }
        let outer = if module { std::mem::take(&mut self.std_aliases) } else { self.std_aliases.clone() };
        let named = |a: &String, binds: Binds| names.iter().any(|(n, b)| n == a && *b == binds);
        self.std_aliases.retain(|a| !named(a, Binds::Other));
        for (name, binds) in &names {
            // A glob's name yields to one declared by name in the scope.
            let yields = *binds == Binds::StdByGlob && (named(name, Binds::Other) || named(name, Binds::Std));
            if *binds != Binds::Other && !yields && !self.std_aliases.contains(name) {
                self.std_aliases.push(name.clone());
            }
        }
        Some(outer)
    }

    /// Handles the token at `i`; returns the index to continue at.
    fn step(&mut self, tokens: &[TokenTree], i: usize, out: &mut TokenStream) -> usize {
        if let TokenTree::Group(g) = &tokens[i] {
            let module = g.delimiter() == Delimiter::Brace && is_module_body(tokens, i);
            let mut new = Group::new(g.delimiter(), self.scope(g.stream(), module));
            new.set_span(g.span());
            out.extend([TokenTree::Group(new)]);
            return i + 1;
        }
        if let Some(at) = use_decl_at(tokens, i)
            && let Some(n) = self.use_decl(tokens, i, at, out)
        {
            return n;
        }
        if self.follow_aliases
            && let Some((at, alias, end)) = extern_crate_std_at(tokens, i)
        {
            // `extern crate std as s;` → `use <crate>::green_std as s;`, as
            // `use std as s;` becomes: every path through `s` is green.
            out.extend(self.stream(tokens[i..at].iter().cloned().collect()));
            let span = tokens[at].span();
            out.extend([TokenTree::Ident(Ident::new("use", span))]);
            out.extend(self.cfg.krate.tokens(span, &["green_std"]));
            out.extend([TokenTree::Ident(Ident::new("as", span)), tokens[alias].clone(), tokens[end].clone()]);
            return end + 1;
        }
        if let Some(path) = path_at(tokens, i) {
            if let Some(n) = verbatim(tokens, &path, out) {
                return n;
            }
            if let Some(n) = self.marker(tokens, &path, out) {
                return n;
            }
            if let Some(n) = self.thread_local(tokens, &path, out) {
                return n;
            }
            if let Some(n) = self.std_path(tokens, &path, out) {
                return n;
            }
        }
        out.extend([tokens[i].clone()]);
        i + 1
    }

    /// `thread_local!` (bare or as `std::thread_local!`) → `::guv::local!`
    /// with the `thread` group: one value per green thread, as each
    /// patched `thread::spawn` is one; through a name the item's `use`
    /// declarations give `std` (`s::thread_local!`, every group) →
    /// `s::__guv_thread_local!`, the same macro in `green_std`. The
    /// declarations inside are walked as usual.
    fn thread_local(&mut self, tokens: &[TokenTree], path: &Path, out: &mut TokenStream) -> Option<usize> {
        let end = path.end();
        if !is_punct(tokens.get(end), '!') || !self.cfg.groups.contains(crate::groups::Group::Thread) {
            return None;
        }
        let names = path.names(tokens);
        let span = tokens[*path.idx.last()?].span();
        match names.as_slice() {
            [name] if !path.leading && name == "thread_local" => {}
            [krate, name] if krate == "std" && name == "thread_local" => {}
            [alias, name] if !path.leading && name == "thread_local" && self.std_aliases.contains(alias) => {
                // The alias is `green_std` by now; going through it keeps
                // the user's import used (`<crate>::local!` left it unused).
                out.extend([tokens[path.idx[0]].clone()]);
                out.extend(path_sep(span));
                out.extend([TokenTree::Ident(Ident::new("__guv_thread_local", span))]);
                return Some(end);
            }
            _ => return None,
        }
        out.extend(self.cfg.krate.tokens(span, &["local"]));
        Some(end)
    }

    /// A `use` declaration whose outer attributes and visibility start at
    /// `start` and whose `use` is at `at`: rewritten as a whole, or kept as
    /// written. A `thread_local` import the rewrite no longer needs (see
    /// `usetree::Rewrite::apart`) is declared apart, with the same
    /// attributes and visibility, under `#[allow(unused_imports)]`.
    fn use_decl(&mut self, tokens: &[TokenTree], start: usize, at: usize, out: &mut TokenStream) -> Option<usize> {
        let end = (at + 1..tokens.len()).find(|&j| is_punct(tokens.get(j), ';'))?;
        let rewritten = usetree::rewrite(&tokens[at + 1..end], self.cfg).ok()?;
        // The attributes are walked as elsewhere (`#[doc = ...]` and
        // `#[cfg(...)]` hold no path to rewrite, but macro arguments might).
        let prefix = self.stream(tokens[start..at].iter().cloned().collect());
        let (use_kw, semi) = (&tokens[at], &tokens[end]);
        let Some(rewritten) = rewritten else {
            out.extend(prefix);
            out.extend(tokens[at..=end].iter().cloned());
            return Some(end + 1);
        };
        if let Some(tree) = rewritten.tree {
            out.extend(prefix.clone());
            out.extend([use_kw.clone()]);
            out.extend(tree);
            out.extend([semi.clone()]);
        }
        if let Some(apart) = rewritten.apart {
            // The macro's own span (not the user's): an attribute the
            // expansion adds is not the user's to lint, and clippy's
            // `duplicated_attributes` fired on it next to the user's own
            // `#[allow(unused_imports)]`.
            out.extend(quote::quote!(#[allow(unused_imports)]));
            out.extend(prefix);
            out.extend([use_kw.clone()]);
            out.extend(apart);
            out.extend([semi.clone()]);
        }
        Some(end + 1)
    }

    /// `original!(...)` and `is_patched!(...)`, bare or as `guv::...!`.
    fn marker(&mut self, tokens: &[TokenTree], path: &Path, out: &mut TokenStream) -> Option<usize> {
        let end = path.end();
        let (Some(TokenTree::Punct(bang)), Some(TokenTree::Group(args))) = (tokens.get(end), tokens.get(end + 1))
        else {
            return None;
        };
        if bang.as_char() != '!' {
            return None;
        }
        let names = path.names(tokens);
        let (last, prefix) = names.split_last()?;
        // `<any crate path>::__private::is_patched!` is what an outer walk
        // leaves for this one (below), whatever its `crate` option was.
        let left_by_outer = last == "is_patched" && prefix.last().is_some_and(|p| p == "__private");
        let ours = if prefix.is_empty() { !path.leading } else { left_by_outer || self.is_guv(prefix) };
        if !ours {
            return None;
        }
        let name_span = tokens[*path.idx.last()?].span();
        // An unqualified `original!(...)` / `is_patched!(...)` whose
        // arguments guv's macro would refuse is some other macro of that
        // name (the user's own); if it is guv's after all, the standalone
        // macro reports the same error.
        let bare = prefix.is_empty();
        // `guv::is_patched!($g)` in a `macro_rules!` declared in the item:
        // the walk runs before the macro is expanded, so it cannot decide.
        if !bare
            && matches!(last.as_str(), "original" | "is_patched")
            && let Some(dollar) = args.stream().into_iter().find(|t| is_punct(Some(t), '$'))
        {
            let what = if last == "original" { "the std path" } else { "the group name" };
            self.errors.push(syn::Error::new(
                dollar.span(),
                format!(
                    "guv::{last}! is decided where it is written, when the patching attribute runs, \
                     before any `macro_rules!` expands: write {what} itself, not a macro variable"
                ),
            ));
            let fallback = if last == "original" {
                args.stream()
            } else {
                TokenTree::Ident(Ident::new("false", name_span)).into()
            };
            out.extend(fallback);
            return Some(end + 2);
        }
        match last.as_str() {
            "original" if bare && parse_original(args.stream(), name_span).is_err() => return None,
            "is_patched" if bare && parse_is_patched(args.stream(), name_span).is_err() => return None,
            _ => {}
        }
        match last.as_str() {
            "original" => match parse_original(args.stream(), name_span) {
                Ok(o) => {
                    out.extend(self.cfg.krate.tokens(o.std_span, &["__private", "std"]));
                    out.extend(o.rest);
                }
                Err(e) => {
                    self.errors.push(e);
                    out.extend(args.stream());
                }
            },
            "is_patched" => match parse_is_patched(args.stream(), name_span) {
                Ok(g) if self.cfg.groups.contains(g) => {
                    out.extend([TokenTree::Ident(Ident::new("true", name_span))]);
                }
                // Not patched here; an inner patched item may still patch
                // it, and outside every one the macro says `false`. The
                // path is one every inner walk recognises, whatever crate
                // path its own option names.
                Ok(_) => {
                    out.extend(self.cfg.krate.tokens(name_span, &["__private", "is_patched"]));
                    out.extend([tokens[end].clone(), tokens[end + 1].clone()]);
                }
                Err(e) => {
                    self.errors.push(e);
                    out.extend([TokenTree::Ident(Ident::new("false", name_span))]);
                }
            },
            _ => return None,
        }
        Some(end + 2)
    }

    /// `std::net::TcpStream::connect` → `::guv::green::net::TcpStream::connect`.
    fn std_path(&mut self, tokens: &[TokenTree], path: &Path, out: &mut TokenStream) -> Option<usize> {
        let names = path.names(tokens);
        if names.first().is_none_or(|n| n != "std") || names.len() < 2 {
            return None;
        }
        let module_len = table::classify(&names[1..], self.cfg.groups)?;
        let std_span = tokens[path.idx[0]].span();
        out.extend(self.cfg.krate.tokens(std_span, &["green"]));
        for &j in &path.idx[1..=module_len] {
            out.extend(path_sep(tokens[j].span()));
            out.extend([tokens[j].clone()]);
        }
        Some(path.idx[module_len] + 1)
    }
}

/// Rewrites `item` with `cfg`, returning the new tokens and any errors.
pub(crate) fn patch(item: TokenStream, cfg: &PatchConfig) -> (TokenStream, Option<syn::Error>) {
    let mut p = Patcher::new(cfg, &item);
    let out = p.stream(item);
    (out, p.into_errors())
}

/// The `(tokens, errors)` of [`patch`] as one stream: errors first.
pub(crate) fn patch_with_errors(item: TokenStream, cfg: &PatchConfig) -> TokenStream {
    let (out, errors) = patch(item, cfg);
    match errors {
        Some(e) => attr::error_with(e, out),
        None => out,
    }
}

/// A span for messages about a whole item: its first token.
pub(crate) fn first_span(item: &TokenStream) -> Span {
    item.clone().into_iter().next().map_or_else(Span::call_site, |t| t.span())
}
