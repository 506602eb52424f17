//! Recognising paths in a token stream: where a path may start, what it is
//! made of, and the token checks (`::`, keywords, declarations) that decide
//! it.

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// A path found in the token stream: `::`? ident (`::` ident)*.
pub(super) struct Path {
    pub(super) leading: bool,
    /// Index of each segment's ident.
    pub(super) idx: Vec<usize>,
}

impl Path {
    /// The segments' names, raw identifiers unwrapped (`r#std` is `std`).
    pub(super) fn names(&self, tokens: &[TokenTree]) -> Vec<String> {
        self.idx.iter().map(|&i| unraw(&tokens[i].to_string()).to_owned()).collect()
    }

    /// Index of the first token after the path.
    pub(super) fn end(&self) -> usize {
        self.idx.last().map_or(0, |i| i + 1)
    }
}

/// `stringify!(...)` (bare, or as `std::`/`core::stringify!`) is passed
/// through as written: it makes a string of its tokens and resolves none
/// of them, so a rewrite would only change the string.
pub(super) fn verbatim(tokens: &[TokenTree], path: &Path, out: &mut TokenStream) -> Option<usize> {
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

pub(super) fn is_punct(tt: Option<&TokenTree>, c: char) -> bool {
    matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == c)
}

fn joint(tt: Option<&TokenTree>, c: char) -> bool {
    matches!(tt, Some(TokenTree::Punct(p)) if p.as_char() == c && p.spacing() == proc_macro2::Spacing::Joint)
}

/// Where the `use` of a declaration starting at `i` is: `i` itself, or
/// after the declaration's outer attributes (`#[...]`) and visibility
/// (`pub`, `pub(...)`), which belong to it. `impl Trait + use<'a>` (precise
/// capturing) is not a declaration.
pub(super) fn use_decl_at(tokens: &[TokenTree], i: usize) -> Option<usize> {
    let j = decl_keyword_at(tokens, i)?;
    let is_use = matches!(tokens.get(j), Some(TokenTree::Ident(id)) if id == "use");
    (is_use && !is_punct(tokens.get(j + 1), '<')).then_some(j)
}

/// Where the keyword of a declaration starting at `i` would be: after its
/// outer attributes (`#[...]`) and visibility (`pub`, `pub(...)`); `None`
/// when `i` cannot start one.
pub(super) fn decl_keyword_at(tokens: &[TokenTree], i: usize) -> Option<usize> {
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
pub(super) fn sep_at(tokens: &[TokenTree], i: usize) -> bool {
    joint(tokens.get(i), ':') && is_punct(tokens.get(i + 1), ':')
}

/// Whether the ident at `i` may begin a path: it does not continue one
/// (`a::std`), and is not a field, lifetime or macro variable. After `..`
/// (a range, `&buf[..n]`) it is an operand, not a field.
pub(super) fn ident_may_start(tokens: &[TokenTree], i: usize) -> bool {
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
pub(super) fn path_at(tokens: &[TokenTree], i: usize) -> Option<Path> {
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
