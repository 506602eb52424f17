//! The names a scope gives: what its items declare (aliases of std among
//! them, `extern crate std as s`, modules, types) and the `crate = "..."`
//! options of nested guv attributes.

use proc_macro2::{Delimiter, TokenStream, TokenTree};

use super::paths::{decl_keyword_at, ident_may_start, is_punct, sep_at, unraw};
use crate::groups::{CratePath, PatchConfig};
use crate::usetree::{self, Binds};

/// The attributes of guv's that take a `crate` option.
const CRATE_ATTRS: [&str; 4] = ["patched", "main", "green", "test"];

/// Collects the `crate = "..."` values of guv attributes anywhere in
/// `tokens`: `#[guv::patched(sync, crate = "my_guv")]`, or
/// `#[my_guv::test(crate = "my_guv")]` (an attribute is guv's when its
/// path names guv for the walk or is the path its own option names, so
/// `#[tokio::test(crate = "my_tokio")]` is not). Within the item that path
/// names guv, so an outer walk decides `my_guv::is_patched!` too.
pub(super) fn nested_crate_paths(tokens: &TokenStream, cfg: &PatchConfig, found: &mut Vec<CratePath>) {
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
pub(super) fn declared_names(tokens: &[TokenTree], super_aliases: &[String]) -> Vec<(String, Binds)> {
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
pub(super) fn is_module_body(tokens: &[TokenTree], i: usize) -> bool {
    i >= 2
        && matches!(&tokens[i - 1], TokenTree::Ident(_))
        && matches!(&tokens[i - 2], TokenTree::Ident(m) if m == "mod")
        && ident_may_start(tokens, i - 2)
}

/// `extern crate std as s;` starting at `i` (with its outer attributes and
/// visibility): the index of `extern`, of the alias and of the `;`. Not
/// with `#[macro_use]` (no `use` can carry it), nor for the names `_` and
/// `std` (no alias).
pub(super) fn extern_crate_std_at(tokens: &[TokenTree], i: usize) -> Option<(usize, usize, usize)> {
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
