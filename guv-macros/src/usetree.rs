//! Rewriting `use` trees: `use std::{net::{TcpStream, Ipv4Addr}, io::{self, Read}};`.
//!
//! A tree is flattened into leaves (`std::net::TcpStream`,
//! `std::net::Ipv4Addr`, `std::io::{self}`, `std::io::Read`), each leaf is
//! decided on its own, and if any changed the declaration becomes one root
//! group of leaves: `use {::guv::green::net::TcpStream, std::net::Ipv4Addr,
//! ...};`. Declarations with nothing to rewrite are left byte for byte.

use proc_macro2::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};

use crate::groups::{PatchConfig, path_sep};
use crate::rewrite::unraw;
use crate::table;

/// One flattened leaf of a use tree.
struct Leaf {
    /// The path up to and including the imported name (`self` included),
    /// or up to the `*` for a glob.
    segs: Vec<Ident>,
    end: End,
}

enum End {
    Name,
    Rename(Ident, Ident),
    Glob(Punct),
}

/// The tokens after `use` are not a complete use tree (code being typed,
/// or a `macro_rules!` body with `$` variables).
#[derive(Debug)]
pub(crate) struct NotATree;

/// Parses the tokens between `use` and `;` and returns the rewritten tree,
/// or `None` when nothing needs rewriting.
pub(crate) fn rewrite(tokens: &[TokenTree], cfg: &PatchConfig) -> Result<Option<TokenStream>, NotATree> {
    let (leading, rest) = match tokens {
        [TokenTree::Punct(a), TokenTree::Punct(b), rest @ ..] if is_path_sep(a, b) => (true, rest),
        _ => (false, tokens),
    };
    let mut leaves = Vec::new();
    let mut pos = 0;
    parse_tree(rest, &mut pos, &mut Vec::new(), &mut leaves).ok_or(NotATree)?;
    if pos != rest.len() {
        return Err(NotATree);
    }
    // A glob or `self` at the root (`use ::{*, ...}`) is not valid Rust;
    // left as written, rustc reports it at the user's token.
    if leaves.iter().any(|l| l.segs.is_empty() || (l.segs.len() == 1 && l.segs[0] == "self")) {
        return Ok(None);
    }
    let decided: Vec<(Leaf, Option<usize>)> = leaves
        .into_iter()
        .map(|leaf| {
            let module_len = decide(&leaf, cfg);
            (leaf, module_len)
        })
        .collect();
    if decided.iter().all(|(_, m)| m.is_none()) {
        return Ok(None);
    }
    let mut out = TokenStream::new();
    let many = decided.len() > 1;
    let mut body = TokenStream::new();
    for (i, (leaf, module_len)) in decided.iter().enumerate() {
        if i > 0 {
            body.extend([TokenTree::Punct(Punct::new(',', Spacing::Alone))]);
        }
        body.extend(emit_leaf(leaf, *module_len, leading, cfg));
    }
    if many {
        out.extend([TokenTree::Group(Group::new(Delimiter::Brace, body))]);
    } else {
        out.extend(body);
    }
    Ok(Some(out))
}

/// The module prefix length to swap, if this leaf is to be rewritten.
fn decide(leaf: &Leaf, cfg: &PatchConfig) -> Option<usize> {
    if leaf.segs.first().is_none_or(|s| unraw(&s.to_string()) != "std") {
        return None;
    }
    let mut below: Vec<String> = leaf.segs[1..].iter().map(|s| unraw(&s.to_string()).to_owned()).collect();
    if below.last().is_some_and(|s| s == "self") {
        below.pop();
    }
    if below.is_empty() {
        return None;
    }
    table::classify(&below, cfg.groups)
}

fn emit_leaf(leaf: &Leaf, module_len: Option<usize>, leading: bool, cfg: &PatchConfig) -> TokenStream {
    let mut out = TokenStream::new();
    let (is_self, segs) = match leaf.segs.split_last() {
        Some((last, init)) if last == "self" => (Some(last), init),
        _ => (None, leaf.segs.as_slice()),
    };
    let mut rest: &[Ident] = segs;
    match module_len {
        Some(_) => {
            // `std` becomes `<crate>::green`; the module's own segments follow.
            let span = segs[0].span();
            out.extend(cfg.krate.tokens(span, &["green"]));
            rest = &segs[1..];
            if !rest.is_empty() {
                out.extend(path_sep(span));
            }
        }
        None if leading => out.extend(path_sep(segs[0].span())),
        None => {}
    }
    for (i, seg) in rest.iter().enumerate() {
        if i > 0 {
            out.extend(path_sep(seg.span()));
        }
        out.extend([TokenTree::Ident(seg.clone())]);
    }
    let last_span = leaf.segs.last().map_or_else(Span::call_site, Ident::span);
    match (&leaf.end, is_self) {
        (End::Glob(star), _) => {
            out.extend(path_sep(star.span()));
            out.extend([TokenTree::Punct(star.clone())]);
        }
        (end, Some(self_kw)) => {
            let mut inner = TokenStream::from(TokenTree::Ident(self_kw.clone()));
            if let End::Rename(as_kw, alias) = end {
                inner.extend([TokenTree::Ident(as_kw.clone()), TokenTree::Ident(alias.clone())]);
            }
            out.extend(path_sep(last_span));
            let mut g = Group::new(Delimiter::Brace, inner);
            g.set_span(self_kw.span());
            out.extend([TokenTree::Group(g)]);
        }
        (End::Rename(as_kw, alias), None) => {
            out.extend([TokenTree::Ident(as_kw.clone()), TokenTree::Ident(alias.clone())]);
        }
        (End::Name, None) => {}
    }
    out
}

fn is_path_sep(a: &Punct, b: &Punct) -> bool {
    a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
}

fn sep_at(tokens: &[TokenTree], pos: usize) -> bool {
    matches!(
        (tokens.get(pos), tokens.get(pos + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) if is_path_sep(a, b)
    )
}

/// Parses one use tree at `pos`, pushing its leaves under `prefix`.
fn parse_tree(tokens: &[TokenTree], pos: &mut usize, prefix: &mut Vec<Ident>, leaves: &mut Vec<Leaf>) -> Option<()> {
    match tokens.get(*pos)? {
        TokenTree::Punct(star) if star.as_char() == '*' => {
            *pos += 1;
            leaves.push(Leaf { segs: prefix.clone(), end: End::Glob(star.clone()) });
            Some(())
        }
        TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
            *pos += 1;
            let inner: Vec<TokenTree> = g.stream().into_iter().collect();
            let mut p = 0;
            while p < inner.len() {
                let depth = prefix.len();
                parse_tree(&inner, &mut p, prefix, leaves)?;
                prefix.truncate(depth);
                match inner.get(p) {
                    None => {}
                    Some(TokenTree::Punct(c)) if c.as_char() == ',' => p += 1,
                    Some(_) => return None,
                }
            }
            Some(())
        }
        TokenTree::Ident(name) => {
            *pos += 1;
            prefix.push(name.clone());
            if sep_at(tokens, *pos) {
                *pos += 2;
                return parse_tree(tokens, pos, prefix, leaves);
            }
            let end = match (tokens.get(*pos), tokens.get(*pos + 1)) {
                (Some(TokenTree::Ident(as_kw)), Some(TokenTree::Ident(alias))) if as_kw == "as" => {
                    *pos += 2;
                    End::Rename(as_kw.clone(), alias.clone())
                }
                _ => End::Name,
            };
            leaves.push(Leaf { segs: prefix.clone(), end });
            Some(())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::{CratePath, Group, GroupSet};

    fn rw(tree: &str, groups: GroupSet) -> Option<String> {
        let tokens: Vec<TokenTree> = tree.parse::<TokenStream>().unwrap().into_iter().collect();
        let cfg = PatchConfig { groups, krate: CratePath::default() };
        rewrite(&tokens, &cfg).ok().flatten().map(|t| t.to_string())
    }

    #[test]
    fn simple_paths_renames_and_globs() {
        let all = GroupSet::all();
        assert_eq!(rw("std::net::TcpStream", all).unwrap(), ":: guv :: green :: net :: TcpStream");
        assert_eq!(rw("::std::net::TcpStream as S", all).unwrap(), ":: guv :: green :: net :: TcpStream as S");
        assert_eq!(rw("std::sync::mpsc::*", all).unwrap(), ":: guv :: green :: sync :: mpsc :: *");
        assert_eq!(rw("std::thread", all).unwrap(), ":: guv :: green :: thread");
        assert_eq!(rw("r#std::r#sync::Condvar", all).unwrap(), ":: guv :: green :: r#sync :: Condvar");
        assert_eq!(rw("std::io::Read as _", all), None);
        assert_eq!(rw("std::collections::HashMap", all), None);
        assert_eq!(rw("crate::std::net::TcpStream", all), None);
    }

    #[test]
    fn groups_are_split_per_leaf() {
        let out =
            rw("std::{net::{TcpStream, Ipv4Addr}, io::{self, Read}, collections::HashMap}", GroupSet::all()).unwrap();
        assert_eq!(
            out,
            "{ :: guv :: green :: net :: TcpStream , std :: net :: Ipv4Addr , \
             :: guv :: green :: io :: { self } , std :: io :: Read , std :: collections :: HashMap }"
        );
        let out = rw("::std::{io::{self as sio}, fs}", GroupSet::EMPTY.with(Group::Fs)).unwrap();
        assert_eq!(out, "{ :: std :: io :: { self as sio } , :: guv :: green :: fs }");
    }

    #[test]
    fn root_globs_and_self_are_left_to_rustc() {
        // Not valid Rust (`use ::*` would glob every crate); rustc says so
        // at the user's token once the tree is left as written.
        for tree in ["::{*, std::net::TcpStream}", "::{self, std::net::TcpStream}", "{*, std::net::TcpStream}"] {
            assert_eq!(rw(tree, GroupSet::all()), None, "{tree}");
        }
    }

    #[test]
    fn unparseable_trees_are_left_alone() {
        assert_eq!(rw("std::net::{TcpStream,, Shutdown}", GroupSet::all()), None);
        assert_eq!(rw("$krate::net::TcpStream", GroupSet::all()), None);
        assert_eq!(rw("std::net::TcpStream extra", GroupSet::all()), None);
    }
}
