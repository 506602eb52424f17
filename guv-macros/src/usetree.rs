//! Rewriting `use` trees: `use std::{net::{TcpStream, Ipv4Addr}, io::{self, Read}};`.
//!
//! A tree is flattened into leaves (`std::net::TcpStream`,
//! `std::net::Ipv4Addr`, `std::io::{self}`, `std::io::Read`), each leaf is
//! decided on its own, and if any changed the declaration becomes one root
//! group of leaves: `use {::guv::green::net::TcpStream, std::net::Ipv4Addr,
//! ...};`. Declarations with nothing to rewrite are left byte for byte.
//!
//! Two leaves are not module paths: `std::thread_local` (the macro) becomes
//! `<crate>::__private::thread_local` (`local!` under a name that is a
//! macro only), and `std` itself renamed or globbed (`use std as s;`,
//! `use std::*;`) becomes `<crate>::green_std` when every group is patched.
//! `thread_local` imported under its own name is handed back apart (see
//! [`Rewrite::apart`]).

use proc_macro2::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};

use crate::groups::{self, GroupSet, PatchConfig, path_sep};
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

/// A rewritten declaration: what follows `use` in it, and in a second one.
pub(crate) struct Rewrite {
    /// The tree of the declaration as written, or `None` when every leaf
    /// went to `apart`.
    pub(crate) tree: Option<TokenStream>,
    /// `<crate>::__private::thread_local as thread_local`, for a declaration of its own under
    /// `#[allow(unused_imports)]`: every bare `thread_local!` in the item is
    /// rewritten to `<crate>::local!` whatever is in scope, so the import
    /// that std code needs for it is no longer used there (it still serves
    /// paths such as `super::thread_local!` and re-exports).
    pub(crate) apart: Option<TokenStream>,
}

/// How one leaf is rewritten.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decision {
    Keep,
    /// Swap `std` and this many module segments for `<crate>::green::...`.
    Module(usize),
    /// `std::thread_local` → `<crate>::__private::thread_local`.
    Local,
    /// `std` → `<crate>::green_std`.
    GreenStd,
}

/// Parses the tokens between `use` and `;` and returns the rewritten
/// declaration, or `None` when nothing needs rewriting.
pub(crate) fn rewrite(tokens: &[TokenTree], cfg: &PatchConfig) -> Result<Option<Rewrite>, NotATree> {
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
    let decided: Vec<(Leaf, Decision)> = leaves
        .into_iter()
        .map(|leaf| {
            let decision = decide(&leaf, cfg);
            (leaf, decision)
        })
        .collect();
    if decided.iter().all(|(_, d)| *d == Decision::Keep) {
        return Ok(None);
    }
    let (apart, kept): (Vec<_>, Vec<_>) =
        decided.into_iter().partition(|(leaf, d)| *d == Decision::Local && leaf.binds("thread_local"));
    let tree = (!kept.is_empty()).then(|| group(&kept, leading, cfg));
    let apart = (!apart.is_empty()).then(|| group(&apart, leading, cfg));
    Ok(Some(Rewrite { tree, apart }))
}

/// What a name bound by a `use` declaration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binds {
    /// Something other than `std` itself.
    Other,
    /// `std` itself, under another name.
    Std,
    /// `std` itself, through a glob (`use super::*;`): an explicit name
    /// in the same scope shadows it.
    StdByGlob,
}

/// The names the use tree between `use` and `;` binds, each with whether
/// it binds `std` itself under another name (`std as s`, `::std::{self as
/// s}`, or `super::s` / `super::*` in a module whose parent has `s` for
/// std: `super_aliases`), so that the walk treats `s::thread_local!` as
/// `std::thread_local!` where that `use` is in scope. Other globs bind
/// nothing named; `_` binds nothing. Empty for tokens that are not a use
/// tree.
pub(crate) fn bound_names(tokens: &[TokenTree], super_aliases: &[String]) -> Vec<(String, Binds)> {
    let rest = match tokens {
        [TokenTree::Punct(a), TokenTree::Punct(b), rest @ ..] if is_path_sep(a, b) => rest,
        _ => tokens,
    };
    let mut leaves = Vec::new();
    let mut pos = 0;
    if parse_tree(rest, &mut pos, &mut Vec::new(), &mut leaves).is_none() || pos != rest.len() {
        return Vec::new();
    }
    let mut bound = Vec::new();
    for leaf in &leaves {
        let names: Vec<String> = leaf.segs.iter().map(|s| unraw(&s.to_string()).to_owned()).collect();
        let name = match &leaf.end {
            End::Rename(_, alias) => unraw(&alias.to_string()).to_owned(),
            End::Name => match names.as_slice() {
                [.., parent, last] if last == "self" => parent.clone(),
                [.., last] => last.clone(),
                [] => continue,
            },
            End::Glob(_) => {
                if names == ["super"] {
                    bound.extend(super_aliases.iter().map(|a| (a.clone(), Binds::StdByGlob)));
                }
                continue;
            }
        };
        if name == "_" {
            continue;
        }
        let is_std = match names.as_slice() {
            [std] | [std, _] if std == "std" && (names.len() == 1 || names[1] == "self") => true,
            [sup, a] | [sup, a, _] if sup == "super" && (names.len() == 2 || names[2] == "self") => {
                super_aliases.contains(a)
            }
            _ => false,
        };
        bound.push((name.clone(), if is_std && name != "std" { Binds::Std } else { Binds::Other }));
    }
    bound
}

/// The leaves as one tree: a root group when there are several.
fn group(leaves: &[(Leaf, Decision)], leading: bool, cfg: &PatchConfig) -> TokenStream {
    let mut body = TokenStream::new();
    for (i, (leaf, decision)) in leaves.iter().enumerate() {
        if i > 0 {
            body.extend([TokenTree::Punct(Punct::new(',', Spacing::Alone))]);
        }
        body.extend(emit_leaf(leaf, *decision, leading, cfg));
    }
    if leaves.len() > 1 { TokenTree::Group(Group::new(Delimiter::Brace, body)).into() } else { body }
}

impl Leaf {
    /// Whether the leaf binds `name` (its last segment, or its rename).
    fn binds(&self, name: &str) -> bool {
        match &self.end {
            End::Rename(_, alias) => unraw(&alias.to_string()) == name,
            End::Name => self.segs.last().is_some_and(|s| unraw(&s.to_string()) == name),
            End::Glob(_) => false,
        }
    }
}

/// What to do with one leaf.
fn decide(leaf: &Leaf, cfg: &PatchConfig) -> Decision {
    if leaf.segs.first().is_none_or(|s| unraw(&s.to_string()) != "std") {
        return Decision::Keep;
    }
    let mut below: Vec<String> = leaf.segs[1..].iter().map(|s| unraw(&s.to_string()).to_owned()).collect();
    if below.last().is_some_and(|s| s == "self") {
        below.pop();
    }
    if below.is_empty() {
        // `use std as s;`, `use std::{self as s};`, `use std::*;`: every
        // path through that name must be green, which `green_std` is for
        // every group at once. (Under its own name, `use std;`, the paths
        // are `std::...` ones that the walk rewrites anyway.)
        let renamed = matches!(&leaf.end, End::Rename(..)) && !leaf.binds("std");
        let green_std = renamed || matches!(leaf.end, End::Glob(_));
        return if green_std && cfg.groups == GroupSet::all() { Decision::GreenStd } else { Decision::Keep };
    }
    if below == ["thread_local"] && !matches!(leaf.end, End::Glob(_)) {
        return if cfg.groups.contains(groups::Group::Thread) { Decision::Local } else { Decision::Keep };
    }
    table::classify(&below, cfg.groups).map_or(Decision::Keep, Decision::Module)
}

fn emit_leaf(leaf: &Leaf, decision: Decision, leading: bool, cfg: &PatchConfig) -> TokenStream {
    let mut out = TokenStream::new();
    let (is_self, segs) = match leaf.segs.split_last() {
        Some((last, init)) if last == "self" => (Some(last), init),
        _ => (None, leaf.segs.as_slice()),
    };
    match decision {
        Decision::Local | Decision::GreenStd => {
            let span = segs[0].span();
            let (path, own_name): (&[&str], _) = match decision {
                // A path that names the macro only: `<crate>::local` is
                // also a module, which the import would bind as well.
                Decision::Local => (&["__private", "thread_local"], &segs[segs.len() - 1]),
                _ => (&["green_std"], &segs[0]),
            };
            out.extend(cfg.krate.tokens(span, path));
            match &leaf.end {
                End::Glob(star) => {
                    out.extend(path_sep(star.span()));
                    out.extend([TokenTree::Punct(star.clone())]);
                }
                End::Rename(as_kw, alias) => {
                    out.extend([TokenTree::Ident(as_kw.clone()), TokenTree::Ident(alias.clone())]);
                }
                // The name the user imported, not the one of the path.
                End::Name => out.extend([TokenTree::Ident(Ident::new("as", span)), TokenTree::Ident(own_name.clone())]),
            }
            return out;
        }
        Decision::Keep | Decision::Module(_) => {}
    }
    let mut rest: &[Ident] = segs;
    match decision {
        Decision::Module(_) => {
            // `std` becomes `<crate>::green`; the module's own segments follow.
            let span = segs[0].span();
            out.extend(cfg.krate.tokens(span, &["green"]));
            rest = &segs[1..];
            if !rest.is_empty() {
                out.extend(path_sep(span));
            }
        }
        _ if leading => out.extend(path_sep(segs[0].span())),
        _ => {}
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

    /// The rewritten tree and the leaves declared apart, as strings.
    fn rw_apart(tree: &str, groups: GroupSet) -> Option<(Option<String>, Option<String>)> {
        let tokens: Vec<TokenTree> = tree.parse::<TokenStream>().unwrap().into_iter().collect();
        let cfg = PatchConfig { groups, krate: CratePath::default() };
        let r = rewrite(&tokens, &cfg).ok().flatten()?;
        Some((r.tree.map(|t| t.to_string()), r.apart.map(|t| t.to_string())))
    }

    /// The rewritten tree, for a declaration with nothing apart.
    fn rw(tree: &str, groups: GroupSet) -> Option<String> {
        let (tree, apart) = rw_apart(tree, groups)?;
        assert_eq!(apart, None);
        tree
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
    fn thread_local_becomes_the_green_local() {
        let all = GroupSet::all();
        // Under its own name it is declared apart (the bare invocations no
        // longer go through it); renamed, it stays in the tree.
        assert_eq!(
            rw_apart("std::thread_local", all).unwrap(),
            (None, Some(":: guv :: __private :: thread_local as thread_local".into()))
        );
        assert_eq!(
            rw_apart("::std::{thread_local, thread}", all).unwrap(),
            (
                Some(":: guv :: green :: thread".into()),
                Some(":: guv :: __private :: thread_local as thread_local".into())
            )
        );
        assert_eq!(rw("std::thread_local as tl", all).unwrap(), ":: guv :: __private :: thread_local as tl");
        assert_eq!(
            rw_apart("std::{thread_local as thread_local, cell::Cell}", all).unwrap(),
            (Some("std :: cell :: Cell".into()), Some(":: guv :: __private :: thread_local as thread_local".into()))
        );
        assert_eq!(rw("std::thread_local", GroupSet::EMPTY.with(Group::Net)), None);
    }

    #[test]
    fn std_renamed_or_globbed_is_green_std_with_every_group() {
        let all = GroupSet::all();
        assert_eq!(rw("std as s", all).unwrap(), ":: guv :: green_std as s");
        assert_eq!(rw("::std::{self as s}", all).unwrap(), ":: guv :: green_std as s");
        assert_eq!(rw("std::*", all).unwrap(), ":: guv :: green_std :: *");
        assert_eq!(
            rw("{std::*, std::net::TcpStream}", all).unwrap(),
            "{ :: guv :: green_std :: *, :: guv :: green :: net :: TcpStream }"
        );
        // Under its own name its paths are rewritten where they are used.
        for tree in ["std", "std as std", "std::{self}"] {
            assert_eq!(rw(tree, all), None, "{tree}");
        }
        // No mirror has only some groups green.
        assert_eq!(rw("std as s", GroupSet::EMPTY.with(Group::Net)), None);
    }

    #[test]
    fn bound_names_say_which_name_std_itself() {
        let names = |tree: &str| {
            let tokens: Vec<TokenTree> = tree.parse::<TokenStream>().unwrap().into_iter().collect();
            bound_names(&tokens, &["s".to_owned()])
        };
        let n = |s: &str, is_std: bool| (s.to_owned(), if is_std { Binds::Std } else { Binds::Other });
        assert_eq!(names("std as s"), [n("s", true)]);
        assert_eq!(
            names("::std::{self as t, net::TcpStream, io::{self}}"),
            [n("t", true), n("TcpStream", false), n("io", false)]
        );
        assert_eq!(names("std"), [n("std", false)]);
        assert_eq!(names("other as s"), [n("s", false)]);
        assert_eq!(names("a::{b::*, c as _}"), []);
        assert_eq!(names("a::{b,, c}"), []);
        // From the parent module, where `s` is std.
        assert_eq!(
            names("super::{s, s as t, x, s::{self as u}}"),
            [n("s", true), n("t", true), n("x", false), n("u", true)]
        );
        assert_eq!(names("super::*"), [("s".to_owned(), Binds::StdByGlob)]);
        assert_eq!(names("other::*"), []);
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
