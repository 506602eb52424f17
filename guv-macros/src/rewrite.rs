//! The patching walk: every token tree of an item, groups and macro
//! arguments included, with std paths swapped for their green twins.
//!
//! It works on `proc_macro2` tokens only — no syntax tree — so it costs
//! little and copes with half-written code: anything it does not recognise
//! is passed through untouched. A path is recognised where one can start
//! (not after `::`, `.`, `'` or `$`): `std::a::b` or `::std::a::b`. `use`
//! declarations go through `usetree.rs`, and `original!` / `is_patched!`
//! invocations are replaced here.

use proc_macro2::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};

use crate::attr;
use crate::groups::{CratePath, Errors, PatchConfig, path_sep};
use crate::markers::{parse_is_patched, parse_original};
use crate::usetree::Binds;
use crate::{table, usetree};

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

/// A path found in the token stream: `::`? ident (`::` ident)*.
struct Path {
    leading: bool,
    /// Index of each segment's ident.
    idx: Vec<usize>,
}

impl Path {
    /// The segments' names, raw identifiers unwrapped (`r#std` is `std`).
    fn names(&self, tokens: &[TokenTree]) -> Vec<String> {
        self.idx.iter().map(|&i| unraw(&tokens[i].to_string()).to_owned()).collect()
    }

    /// Index of the first token after the path.
    fn end(&self) -> usize {
        self.idx.last().map_or(0, |i| i + 1)
    }
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

/// `stringify!(...)` (bare, or as `std::`/`core::stringify!`) is passed
/// through as written: it makes a string of its tokens and resolves none
/// of them, so a rewrite would only change the string.
fn verbatim(tokens: &[TokenTree], path: &Path, out: &mut TokenStream) -> Option<usize> {
    let end = path.end();
    if !is_punct(tokens.get(end), '!') || !matches!(tokens.get(end + 1), Some(TokenTree::Group(_))) {
        return None;
    }
    let stringify = match path.names(tokens).as_slice() {
        [name] => !path.leading && name == "stringify",
        [krate, name] => matches!(krate.as_str(), "std" | "core") && name == "stringify",
        _ => false,
    };
    if !stringify {
        return None;
    }
    let start = if path.leading { path.idx[0] - 2 } else { path.idx[0] };
    out.extend(tokens[start..end + 2].iter().cloned());
    Some(end + 2)
}

/// An identifier's name without the `r#` of a raw identifier: `r#std`
/// names the same crate as `std`.
pub(crate) fn unraw(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

fn is_punct(tt: Option<&TokenTree>, c: char) -> bool {
    matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

fn joint(tt: Option<&TokenTree>, c: char) -> bool {
    matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == c && p.spacing() == proc_macro2::Spacing::Joint)
}

/// Where the `use` of a declaration starting at `i` is: `i` itself, or
/// after the declaration's outer attributes (`#[...]`) and visibility
/// (`pub`, `pub(...)`), which belong to it. `impl Trait + use<'a>` (precise
/// capturing) is not a declaration.
fn use_decl_at(tokens: &[TokenTree], i: usize) -> Option<usize> {
    let j = decl_keyword_at(tokens, i)?;
    let is_use = matches!(tokens.get(j), Some(TokenTree::Ident(id)) if id == "use");
    (is_use && !is_punct(tokens.get(j + 1), '<')).then_some(j)
}

/// Where the keyword of a declaration starting at `i` would be: after its
/// outer attributes (`#[...]`) and visibility (`pub`, `pub(...)`); `None`
/// when `i` cannot start one.
fn decl_keyword_at(tokens: &[TokenTree], i: usize) -> Option<usize> {
    match &tokens[i] {
        // An ident that continues a path or is a field (`x.r#use`) is no keyword.
        TokenTree::Ident(_) if !ident_may_start(tokens, i) => return None,
        TokenTree::Ident(_) => {}
        TokenTree::Punct(p) if p.as_char() == '#' => {}
        _ => return None,
    }
    let mut j = i;
    while is_punct(tokens.get(j), '#')
        && matches!(tokens.get(j + 1), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket)
    {
        j += 2;
    }
    if matches!(tokens.get(j), Some(TokenTree::Ident(id)) if id == "pub") {
        j += 1;
        if matches!(tokens.get(j), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis) {
            j += 1;
        }
    }
    Some(j)
}

/// Whether `::` starts at `i`.
fn sep_at(tokens: &[TokenTree], i: usize) -> bool {
    joint(tokens.get(i), ':') && is_punct(tokens.get(i + 1), ':')
}

/// Whether the ident at `i` may begin a path: it does not continue one
/// (`a::std`), and is not a field, lifetime or macro variable. After `..`
/// (a range, `&buf[..n]`) it is an operand, not a field.
fn ident_may_start(tokens: &[TokenTree], i: usize) -> bool {
    if i == 0 {
        return true;
    }
    let prev = tokens.get(i - 1);
    let field = is_punct(prev, '.') && !(i >= 2 && joint(tokens.get(i - 2), '.'));
    if is_punct(prev, '\'') || is_punct(prev, '$') || field {
        return false;
    }
    !(i >= 2 && is_punct(prev, ':') && joint(tokens.get(i - 2), ':'))
}

/// Whether the `::` at `i` is a leading one (`= ::std::...`) rather than
/// a separator (`a::b`, `self::std::...`). After `>` it is taken as
/// leading (`impl<T> ::std::...`, `-> ::std::...`): a continuation such as
/// `Vec::<u8>::new` is never a std path or a macro of ours, so nothing
/// changes for it either way. After a lifetime (`&'a ::std::...`) it is
/// leading too: a lifetime never continues into a path.
fn sep_may_start(tokens: &[TokenTree], i: usize) -> bool {
    if i == 0 {
        return true;
    }
    match &tokens[i - 1] {
        TokenTree::Ident(_) if i >= 2 && is_punct(tokens.get(i - 2), '\'') => true,
        TokenTree::Ident(id) => is_keyword(&id.to_string()),
        TokenTree::Punct(p) => p.as_char() != '$',
        _ => true,
    }
}

/// Keywords after which `::` starts a path; `self`, `super`, `crate` and
/// `Self` are path segments instead.
fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "as" | "break"
            | "const"
            | "continue"
            | "dyn"
            | "else"
            | "enum"
            | "extern"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "static"
            | "struct"
            | "trait"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "yield"
            | "box"
            | "become"
            | "do"
    )
}

/// The path starting at `i`, if one can start there and it is worth a
/// look (two segments or more, or a macro name).
fn path_at(tokens: &[TokenTree], i: usize) -> Option<Path> {
    let (leading, first) = match &tokens[i] {
        TokenTree::Ident(_) if ident_may_start(tokens, i) => (false, i),
        TokenTree::Punct(_)
            if sep_at(tokens, i)
                && matches!(tokens.get(i + 2), Some(TokenTree::Ident(_)))
                && sep_may_start(tokens, i) =>
        {
            (true, i + 2)
        }
        _ => return None,
    };
    let mut idx = vec![first];
    let mut p = first;
    while sep_at(tokens, p + 1) && matches!(tokens.get(p + 3), Some(TokenTree::Ident(_))) {
        p += 3;
        idx.push(p);
    }
    let is_macro = is_punct(tokens.get(p + 1), '!');
    (idx.len() >= 2 || is_macro).then_some(Path { leading, idx })
}

/// The attributes of guv's that take a `crate` option.
const CRATE_ATTRS: [&str; 4] = ["patched", "main", "green", "test"];

/// Collects the `crate = "..."` values of guv attributes anywhere in
/// `tokens`: `#[guv::patched(sync, crate = "my_guv")]`, or
/// `#[my_guv::test(crate = "my_guv")]` (an attribute is guv's when its
/// path names guv for the walk or is the path its own option names, so
/// `#[tokio::test(crate = "my_tokio")]` is not). Within the item that path
/// names guv, so an outer walk decides `my_guv::is_patched!` too.
fn nested_crate_paths(tokens: &TokenStream, cfg: &PatchConfig, found: &mut Vec<CratePath>) {
    let tokens: Vec<TokenTree> = tokens.clone().into_iter().collect();
    for (i, tt) in tokens.iter().enumerate() {
        let TokenTree::Group(g) = tt else {
            continue;
        };
        if g.delimiter() == Delimiter::Bracket
            && is_punct(i.checked_sub(1).and_then(|j| tokens.get(j)), '#')
            && let Some(krate) = attr_crate_option(g.stream(), cfg)
            && !found.contains(&krate)
        {
            found.push(krate);
        }
        nested_crate_paths(&g.stream(), cfg, found);
    }
}

/// The names declared at the top level of `tokens` (not in nested groups)
/// that a path's first segment can resolve to, each with whether it names
/// `std` itself: the bindings of `use` and `extern crate` declarations, and
/// the modules and types declared there. Empty for code that is not a
/// sequence of items (the checks are on tokens: a `use` or `mod` keyword
/// only appears where it declares).
fn declared_names(tokens: &[TokenTree], super_aliases: &[String]) -> Vec<(String, Binds)> {
    let mut names: Vec<(String, Binds)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let Some(at) = decl_keyword_at(tokens, i) else {
            i += 1;
            continue;
        };
        let keyword = match tokens.get(at) {
            Some(TokenTree::Ident(id)) => unraw(&id.to_string()).to_owned(),
            _ => String::new(),
        };
        let next = match keyword.as_str() {
            "use" if !is_punct(tokens.get(at + 1), '<') => {
                let Some(end) = (at + 1..tokens.len()).find(|&j| is_punct(tokens.get(j), ';')) else { break };
                names.extend(usetree::bound_names(&tokens[at + 1..end], super_aliases));
                end + 1
            }
            "extern" => {
                if let Some((_, alias, end)) = extern_crate_std_at(tokens, i) {
                    names.push((unraw(&tokens[alias].to_string()).to_owned(), Binds::Std));
                    end + 1
                } else {
                    // `extern crate x;`, `extern crate x as y;`: binds the last name.
                    let is_crate = matches!(tokens.get(at + 1), Some(TokenTree::Ident(c)) if c == "crate");
                    let end = (at + 1..tokens.len()).find(|&j| is_punct(tokens.get(j), ';'));
                    if let (true, Some(end)) = (is_crate, end)
                        && let Some(TokenTree::Ident(name)) = tokens.get(end - 1)
                    {
                        names.push((unraw(&name.to_string()).to_owned(), Binds::Other));
                    }
                    at + 1
                }
            }
            "mod" | "struct" | "enum" | "union" | "trait" | "type" => {
                if let Some(TokenTree::Ident(name)) = tokens.get(at + 1) {
                    names.push((unraw(&name.to_string()).to_owned(), Binds::Other));
                }
                at + 1
            }
            _ => at + 1,
        };
        i = next.max(i + 1);
    }
    names
}

/// Whether the brace group at `i` is a module's body: `mod name { ... }`.
fn is_module_body(tokens: &[TokenTree], i: usize) -> bool {
    i >= 2
        && matches!(&tokens[i - 1], TokenTree::Ident(_))
        && matches!(&tokens[i - 2], TokenTree::Ident(m) if m == "mod")
        && ident_may_start(tokens, i - 2)
}

/// `extern crate std as s;` starting at `i` (with its outer attributes and
/// visibility): the index of `extern`, of the alias and of the `;`. Not
/// with `#[macro_use]` (no `use` can carry it), nor for the names `_` and
/// `std` (no alias).
fn extern_crate_std_at(tokens: &[TokenTree], i: usize) -> Option<(usize, usize, usize)> {
    // Only from the declaration's start: its attributes are checked below.
    let after_attr = i >= 2
        && is_punct(tokens.get(i - 2), '#')
        && matches!(&tokens[i - 1], TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket);
    let after_pub = i >= 1
        && (matches!(&tokens[i - 1], TokenTree::Ident(p) if p == "pub")
            || (i >= 2
                && matches!(&tokens[i - 1], TokenTree::Group(g) if g.delimiter() == Delimiter::Parenthesis)
                && matches!(&tokens[i - 2], TokenTree::Ident(p) if p == "pub")));
    if after_attr || after_pub {
        return None;
    }
    let at = decl_keyword_at(tokens, i)?;
    let word = |j: usize, w: &str| matches!(tokens.get(j), Some(TokenTree::Ident(id)) if unraw(&id.to_string()) == w);
    if !(word(at, "extern") && word(at + 1, "crate") && word(at + 2, "std") && word(at + 3, "as")) {
        return None;
    }
    let Some(TokenTree::Ident(alias)) = tokens.get(at + 4) else { return None };
    let alias_name = unraw(&alias.to_string()).to_owned();
    if alias_name == "_" || alias_name == "std" || !is_punct(tokens.get(at + 5), ';') {
        return None;
    }
    let macro_use = tokens[i..at].iter().any(|t| {
        matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Bracket
            && g.stream().into_iter().next().is_some_and(|f| f.to_string() == "macro_use"))
    });
    (!macro_use).then_some((at, at + 4, at + 5))
}

/// The `crate` option of one attribute's tokens (`guv::patched(net, crate
/// = "g")`), if it is one of guv's.
fn attr_crate_option(attr: TokenStream, cfg: &PatchConfig) -> Option<CratePath> {
    let tokens: Vec<TokenTree> = attr.into_iter().collect();
    let start = usize::from(sep_at(&tokens, 0)) * 2;
    let mut names = Vec::new();
    let mut j = start;
    while let Some(TokenTree::Ident(id)) = tokens.get(j) {
        names.push(unraw(&id.to_string()).to_owned());
        if !sep_at(&tokens, j + 1) {
            break;
        }
        j += 3;
    }
    let (last, prefix) = names.split_last()?;
    let args = match tokens.get(j + 1) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis && j + 2 == tokens.len() => g.stream(),
        _ => return None,
    };
    if !CRATE_ATTRS.contains(&last.as_str()) {
        return None;
    }
    let krate = crate::groups::split_commas(args).into_iter().find_map(|entry| match entry.as_slice() {
        [TokenTree::Ident(key), TokenTree::Punct(eq), value] if key == "crate" && eq.as_char() == '=' => {
            let lit: syn::LitStr = syn::parse2(TokenStream::from(value.clone())).ok()?;
            CratePath::parse(&lit.value())
        }
        _ => None,
    })?;
    (cfg.krate.matches(prefix) || krate.matches(prefix)).then_some(krate)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::{CratePath, Group, GroupSet};

    /// The rewritten tokens, without whitespace (spacing is not the point).
    fn rw_with(src: &str, groups: GroupSet) -> String {
        let cfg = PatchConfig { groups, krate: CratePath::default() };
        squash(&patch_with_errors(src.parse().unwrap(), &cfg).to_string())
    }

    fn squash(s: &str) -> String {
        s.split_whitespace().collect()
    }

    fn rw(src: &str) -> String {
        rw_with(src, GroupSet::all())
    }

    #[test]
    fn expression_and_type_paths() {
        assert_eq!(
            rw("let s: std::net::TcpStream = std::net::TcpStream::connect(a)?;"),
            squash(
                "let s : :: guv :: green :: net :: TcpStream = :: guv :: green :: net :: TcpStream :: connect (a) ? ;"
            )
        );
        assert_eq!(
            rw("fn f() -> ::std::sync::Mutex<u8> { ::std::sync::mpsc::channel::<u8>() }"),
            squash(
                "fn f () -> :: guv :: green :: sync :: Mutex < u8 > { :: guv :: green :: sync :: mpsc :: channel :: < u8 > () }"
            )
        );
        assert_eq!(
            rw("Vec<::std::thread::JoinHandle<()>>"),
            squash("Vec < :: guv :: green :: thread :: JoinHandle < () > >")
        );
        assert_eq!(
            rw("impl<T> ::std::net::ToSocketAddrs for W<T> {}"),
            squash("impl < T > :: guv :: green :: net :: ToSocketAddrs for W < T > { }")
        );
        assert_eq!(
            rw("fn f<'a>(m: &'a ::std::sync::Mutex<u8>, n: &'_ ::std::fs::File) {}"),
            squash(
                "fn f < 'a > (m : & 'a :: guv :: green :: sync :: Mutex < u8 > , n : & '_ :: guv :: green :: fs :: File) { }"
            )
        );
        assert_eq!(
            rw("r#std::r#thread::spawn(f); std::sync::r#Mutex::new(1)"),
            squash(":: guv :: green :: r#thread :: spawn (f) ; :: guv :: green :: sync :: r#Mutex :: new (1)")
        );
        assert_eq!(rw("x => ::std::process::exit(1)"), squash("x => :: std :: process :: exit (1)"));
        assert_eq!(rw("x => ::std::fs::read(p)"), squash("x => :: guv :: green :: fs :: read (p)"));
        assert_eq!(
            rw("&v[..std::fs::read(p)?.len()]; 0..=std::fs::read(p)?.len()"),
            squash(
                "& v [.. :: guv :: green :: fs :: read (p) ? . len ()] ; 0 ..= :: guv :: green :: fs :: read (p) ? . len ()"
            )
        );
    }

    #[test]
    fn macro_arguments_are_walked() {
        assert_eq!(
            rw("println!(\"{:?}\", std::thread::current().id())"),
            squash("println ! (\"{:?}\" , :: guv :: green :: thread :: current () . id ())")
        );
        assert_eq!(
            rw("assert!(matches!(x, std::sync::TryLockError::WouldBlock))"),
            squash("assert ! (matches ! (x , std :: sync :: TryLockError :: WouldBlock))")
        );
    }

    #[test]
    fn stringify_keeps_its_tokens() {
        for src in [
            "stringify!(std::net::TcpStream)",
            "std::stringify!(std::thread::spawn)",
            "::core::stringify!(thread_local!{})",
        ] {
            let expected = squash(&src.parse::<TokenStream>().unwrap().to_string());
            assert_eq!(rw(src), expected, "{src}");
        }
        assert_eq!(rw("my::stringify!(std::fs::File)"), squash("my::stringify!(::guv::green::fs::File)"));
    }

    #[test]
    fn not_every_std_looking_path_is_std() {
        for src in [
            "my::std::net::TcpStream",
            "self::std::net::TcpStream",
            "core::time::Duration",
            "alloc::sync::Arc",
            "x.std::<u8>()",
            "x.0.std::<u8>()",
            "1.0.std::<u8>()",
            "$std::net::TcpStream",
            "'std: loop {}",
            "std::time::Duration::from_secs(1)",
            "std::collections::HashMap::new()",
            "r#my::std::net::TcpStream",
            "\"std::net::TcpStream\"",
        ] {
            let expected = squash(&src.parse::<TokenStream>().unwrap().to_string());
            assert_eq!(rw(src), expected, "{src}");
        }
    }

    #[test]
    fn groups_limit_what_changes() {
        let net = GroupSet::EMPTY.with(Group::Net);
        assert_eq!(
            rw_with("std::net::TcpStream::connect(a); std::thread::spawn(f)", net),
            squash(":: guv :: green :: net :: TcpStream :: connect (a) ; std :: thread :: spawn (f)")
        );
        let time = GroupSet::EMPTY.with(Group::Time);
        assert_eq!(
            rw_with("std::thread::sleep(d); std::thread::spawn(f)", time),
            squash(":: guv :: green :: thread :: sleep (d) ; std :: thread :: spawn (f)")
        );
    }

    #[test]
    fn use_declarations_anywhere() {
        assert_eq!(
            rw("fn f() { use std::{net::TcpListener, io::Write}; }"),
            squash("fn f () { use { :: guv :: green :: net :: TcpListener , std :: io :: Write } ; }")
        );
        assert_eq!(rw("pub use std::net::*;"), squash("pub use :: guv :: green :: net :: * ;"));
        assert_eq!(rw("use std::net::{Ipv4Addr, Shutdown};"), squash("use std :: net :: { Ipv4Addr , Shutdown } ;"));
        assert_eq!(
            rw("fn f() -> impl Sized + use<> { std::net::TcpStream::connect(a) }"),
            squash("fn f () -> impl Sized + use < > { :: guv :: green :: net :: TcpStream :: connect (a) }")
        );
    }

    #[test]
    fn thread_local_becomes_a_green_local_with_the_thread_group() {
        assert_eq!(
            rw("thread_local! { static N: std::sync::Mutex<u8> = std::sync::Mutex::new(0); }"),
            squash(
                ":: guv :: local ! { static N : :: guv :: green :: sync :: Mutex < u8 > = :: guv :: green :: sync :: Mutex :: new (0) ; }"
            )
        );
        assert_eq!(rw("std::thread_local!{}"), squash(":: guv :: local ! { }"));
        assert_eq!(rw("::std::thread_local!{}"), squash(":: guv :: local ! { }"));
        // Another crate's macro of that name, and the group off: left alone.
        assert_eq!(rw("other::thread_local!{}"), squash("other :: thread_local ! { }"));
        assert_eq!(rw_with("thread_local!{}", GroupSet::EMPTY.with(Group::Net)), squash("thread_local ! { }"));
    }

    #[test]
    fn thread_local_through_an_alias_of_std_is_green() {
        assert_eq!(
            rw("mod m { use std as s; s::thread_local!{} }"),
            squash("mod m { use :: guv :: green_std as s ; s :: __guv_thread_local ! { } }")
        );
        assert_eq!(
            rw("fn f() { t::thread_local!{} } use ::std::{self as t, net};"),
            squash(
                "fn f () { t :: __guv_thread_local ! { } } use { :: guv :: green_std as t , :: guv :: green :: net } ;"
            )
        );
        // Not an alias of std, a leading `::s` (a crate): left alone.
        assert_eq!(rw("use other as s; s::thread_local!{}"), squash("use other as s ; s :: thread_local ! { }"));
        assert_eq!(
            rw("use std as s; ::s::thread_local!{}"),
            squash("use :: guv :: green_std as s ; :: s :: thread_local ! { }")
        );
        // With fewer groups the alias stays std's, and so does its macro,
        // as every path through it (there is no mirror to name).
        assert_eq!(
            rw_with("use std as s; s::thread_local!{}", GroupSet::EMPTY.with(Group::Thread)),
            squash("use std as s ; s :: thread_local ! { }")
        );
    }

    #[test]
    fn an_alias_of_std_counts_only_where_its_use_is_in_scope() {
        // Outside the module that declares it, `s` is some other name.
        assert_eq!(
            rw("mod m { use std as s; } s::thread_local!{}"),
            squash("mod m { use :: guv :: green_std as s ; } s :: thread_local ! { }")
        );
        assert_eq!(
            rw("fn f() { use std as s; { s::thread_local!{} } } fn g() { s::thread_local!{} }"),
            squash(
                "fn f () { use :: guv :: green_std as s ; { s :: __guv_thread_local ! { } } } \
                 fn g () { s :: thread_local ! { } }"
            )
        );
        // Blocks and items nested in the declaring scope see it (functions,
        // impls, closures); nested modules do not (their paths start from
        // their own names).
        assert_eq!(
            rw("use std as s; impl X { fn f() { let c = || { s::thread_local!{} }; } } \
                mod inner { s::thread_local!{} fn g() { s::thread_local!{} } }"),
            squash(
                "use :: guv :: green_std as s ; impl X { fn f () { let c = || { s :: __guv_thread_local ! { } } ; } } \
                 mod inner { s :: thread_local ! { } fn g () { s :: thread_local ! { } } }"
            )
        );
        // A nested module that declares the alias again has it.
        assert_eq!(
            rw("use std as s; mod inner { use std as s; s::thread_local!{} }"),
            squash(
                "use :: guv :: green_std as s ; mod inner { use :: guv :: green_std as s ; s :: __guv_thread_local ! { } }"
            )
        );
        // Shadowed in a nested block by another `use`, a module or a type.
        for (inner, expected) in [
            ("use other as s;", "use other as s ;"),
            ("use crate::s;", "use crate :: s ;"),
            ("use a::{b::{self as s}};", "use a :: { b :: { self as s } } ;"),
            ("mod s {}", "mod s { }"),
            ("struct s;", "struct s ;"),
            ("extern crate other as s;", "extern crate other as s ;"),
        ] {
            assert_eq!(
                rw(&format!("use std as s; fn f() {{ {inner} s::thread_local!{{}} }}")),
                squash(&format!("use :: guv :: green_std as s ; fn f () {{ {expected} s :: thread_local ! {{ }} }}")),
                "{inner}"
            );
        }
        // A glob or `_` binds no name, so shadows nothing.
        assert_eq!(
            rw("use std as s; fn f() { use other::*; use x as _; s::thread_local!{} }"),
            squash(
                "use :: guv :: green_std as s ; fn f () { use other :: * ; use x as _ ; s :: __guv_thread_local ! { } }"
            )
        );
    }

    #[test]
    fn an_alias_of_std_reaches_nested_modules_through_super() {
        // `use super::*;` and `use super::s;` in a nested module bring the
        // parent's alias in; a name declared there wins over the glob's.
        assert_eq!(
            rw(
                "use std as s; mod a { use super::*; s::thread_local!{} mod b { use super::s as t; t::thread_local!{} } }"
            ),
            squash(
                "use :: guv :: green_std as s ; mod a { use super :: * ; s :: __guv_thread_local ! { } \
                 mod b { use super :: s as t ; t :: __guv_thread_local ! { } } }"
            )
        );
        assert_eq!(
            rw("mod m { use std as s; mod a { use super::*; mod s {} s::thread_local!{} } }"),
            squash(
                "mod m { use :: guv :: green_std as s ; mod a { use super :: * ; mod s { } s :: thread_local ! { } } }"
            )
        );
        // A block's `super` is its module's parent: not followed.
        assert_eq!(
            rw("use std as s; mod a { fn f() { use super::s; s::thread_local!{} } }"),
            squash("use :: guv :: green_std as s ; mod a { fn f () { use super :: s ; s :: thread_local ! { } } }")
        );
        // Aliases of a block are not the module's.
        assert_eq!(
            rw("fn f() { use std as s; mod a { use super::*; s::thread_local!{} } }"),
            squash("fn f () { use :: guv :: green_std as s ; mod a { use super :: * ; s :: thread_local ! { } } }")
        );
    }

    #[test]
    fn extern_crate_std_as_an_alias_is_green_std() {
        assert_eq!(
            rw("extern crate std as s; s::thread_local!{} fn f() { s::thread_local!{} }"),
            squash(
                "use :: guv :: green_std as s ; s :: __guv_thread_local ! { } fn f () { s :: __guv_thread_local ! { } }"
            )
        );
        assert_eq!(
            rw("#[allow(unused)] pub(crate) extern crate r#std as s;"),
            squash("#[allow(unused)] pub(crate) use :: guv :: green_std as s ;")
        );
        assert_eq!(
            rw("mod m { extern crate std as s; } s::thread_local!{}"),
            squash("mod m { use :: guv :: green_std as s ; } s :: thread_local ! { }")
        );
        // Not aliases of std: left as written, and their macro too.
        for src in [
            "extern crate std; s::thread_local!{}",
            "extern crate std as _; s::thread_local!{}",
            "extern crate other as s; s::thread_local!{}",
            "#[macro_use] extern crate std as s; s::thread_local!{}",
        ] {
            let expected = squash(&src.parse::<TokenStream>().unwrap().to_string());
            assert_eq!(rw(src), expected, "{src}");
        }
        // With fewer groups the alias stays std's, as for `use std as s;`.
        assert_eq!(
            rw_with("extern crate std as s; s::thread_local!{}", GroupSet::EMPTY.with(Group::Thread)),
            squash("extern crate std as s ; s :: thread_local ! { }")
        );
    }

    #[test]
    fn original_and_is_patched_are_replaced() {
        assert_eq!(
            rw("guv::original!(std::net::TcpStream::connect)(a)"),
            squash(":: guv :: __private :: std :: net :: TcpStream :: connect (a)")
        );
        assert_eq!(
            rw("let m: original!(::std::sync::Mutex<u8>);"),
            squash("let m : :: guv :: __private :: std :: sync :: Mutex < u8 > ;")
        );
        assert_eq!(rw("if guv::is_patched!(net) {}"), squash("if true { }"));
        assert_eq!(
            rw_with("if ::guv::is_patched!(fs) {}", GroupSet::EMPTY.with(Group::Net)),
            squash("if :: guv :: __private :: is_patched ! (fs) { }")
        );
        // What an outer walk left, whatever crate path it had: decided here.
        assert_eq!(rw("if my::guv::__private::is_patched!(fs) {}"), squash("if true { }"));
        assert_eq!(
            rw("other::original!(std::net::TcpStream)"),
            squash("other :: original ! (:: guv :: green :: net :: TcpStream)")
        );
        assert_eq!(rw("original!(5) + is_patched!(6, 7)"), squash("original ! (5) + is_patched ! (6 , 7)"));
        let cfg = PatchConfig { groups: GroupSet::all(), krate: CratePath::default() };
        let out = patch_with_errors("guv::original!(TcpStream)".parse().unwrap(), &cfg).to_string();
        assert!(out.contains("compile_error") && out.contains("path into std"), "{out}");
        for src in ["macro_rules! m { ($g:ident) => { guv::is_patched!($g) } }", "guv::original!($p)"] {
            let out = patch_with_errors(src.parse().unwrap(), &cfg).to_string();
            assert!(out.contains("compile_error") && out.contains("not a macro variable"), "{out}");
        }
        let out = patch_with_errors("guv::is_patched!(socket)".parse().unwrap(), &cfg).to_string();
        assert!(out.contains("unknown group `socket`") && out.ends_with("false"), "{out}");
    }

    #[test]
    fn nested_attributes_name_more_paths_to_guv() {
        let net = GroupSet::EMPTY.with(Group::Net);
        // The inner attribute says guv is `crate::re::guv` inside it: the
        // outer walk answers for its own group and leaves the rest.
        let src = "mod m { #[guv::patched(sync, crate = \"crate::re::guv\")] fn f() { \
                   (crate::re::guv::is_patched!(net), crate::re::guv::is_patched!(sync)) } }";
        let out = rw_with(src, net);
        assert!(out.contains("{(true,::guv::__private::is_patched!(sync))}"), "{out}");
        // An attribute that is not guv's names no path to guv.
        let src = "#[tokio::test(crate = \"my\")] fn f() { my::is_patched!(net) }";
        assert!(rw_with(src, net).contains("my::is_patched!(net)"));
        let src = "#[my::test(crate = \"my\")] fn f() { my::is_patched!(net) }";
        assert!(rw_with(src, net).contains("{true}"));
    }

    #[test]
    fn use_declarations_keep_their_attributes_and_visibility() {
        assert_eq!(
            rw("#[cfg(unix)] pub(crate) use std::{thread_local, net::TcpStream};"),
            squash(
                "#[cfg(unix)] pub(crate) use :: guv :: green :: net :: TcpStream ; \
                 #[allow(unused_imports)] #[cfg(unix)] pub(crate) use :: guv :: __private :: thread_local as thread_local ;"
            )
        );
        assert_eq!(
            rw("#[doc = \"x\"] use std::thread_local;"),
            squash("#[allow(unused_imports)] #[doc = \"x\"] use :: guv :: __private :: thread_local as thread_local ;")
        );
        assert_eq!(rw("#[cfg(unix)] pub use std::io::Read;"), squash("#[cfg(unix)] pub use std::io::Read;"));
        assert_eq!(
            rw("#![allow(x)] use std::thread_local as tl;"),
            squash("#![allow(x)] use :: guv :: __private :: thread_local as tl ;")
        );
    }

    #[test]
    fn patching_twice_changes_nothing_more() {
        let src = "use std::{net::TcpStream, io::{self, Read}, thread_local}; use std as s; \
                   fn f(s: std::net::TcpStream) { std::thread::spawn(|| ()); thread_local!{} }";
        let once = rw(src);
        assert_eq!(rw(&once), once);
    }
}
