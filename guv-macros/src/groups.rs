//! The module groups of `#[guv::patched(net, thread, ...)]` and the option
//! list that names them, parsed straight from `proc_macro2` tokens (no
//! `syn` parsing beyond one string literal).

use proc_macro2::{Delimiter, Ident, Punct, Spacing, Span, TokenStream, TokenTree};

/// One group of std modules, as in Python's `monkey_patch(socket=True, ...)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Group {
    Net,
    Thread,
    Time,
    Sync,
    Io,
    Process,
    Fs,
}

impl Group {
    pub(crate) const ALL: [Group; 7] =
        [Group::Net, Group::Thread, Group::Time, Group::Sync, Group::Io, Group::Process, Group::Fs];

    /// The name written in the attribute.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Group::Net => "net",
            Group::Thread => "thread",
            Group::Time => "time",
            Group::Sync => "sync",
            Group::Io => "io",
            Group::Process => "process",
            Group::Fs => "fs",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.name() == name)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of groups.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct GroupSet(u8);

impl GroupSet {
    pub(crate) const EMPTY: GroupSet = GroupSet(0);

    pub(crate) fn all() -> GroupSet {
        Group::ALL.into_iter().fold(GroupSet::EMPTY, |set, g| set.with(g))
    }

    pub(crate) fn with(self, g: Group) -> GroupSet {
        GroupSet(self.0 | g.bit())
    }

    pub(crate) fn contains(self, g: Group) -> bool {
        self.0 & g.bit() != 0
    }
}

/// "`net`, `thread`, ..., `fs`": for error messages.
pub(crate) fn valid_groups() -> String {
    Group::ALL.iter().map(|g| format!("`{}`", g.name())).collect::<Vec<_>>().join(", ")
}

/// Where the `guv` crate is: `::guv` unless `crate = "..."` says otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CratePath {
    leading_colon: bool,
    segments: Vec<String>,
}

impl Default for CratePath {
    fn default() -> CratePath {
        CratePath { leading_colon: true, segments: vec!["guv".into()] }
    }
}

impl CratePath {
    /// Parses the value of `crate = "..."`: a path such as `my_guv` or
    /// `::vendored::guv`.
    pub(crate) fn parse(text: &str) -> Option<CratePath> {
        let text = text.trim();
        let (leading_colon, rest) = match text.strip_prefix("::") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let segments: Vec<String> = rest.split("::").map(|s| s.trim().to_owned()).collect();
        // Checked as Rust identifiers (keywords aside, which name path
        // roots: `crate::my_guv`): an alphabetic character outside Unicode's
        // identifier set (`ⓐ`) would make `Ident::new` panic later.
        let ok = segments.iter().all(|s| {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
                && s != "_"
                && (matches!(s.as_str(), "crate" | "self" | "super") || syn::parse_str::<syn::Ident>(s).is_ok())
        });
        ok.then_some(CratePath { leading_colon, segments })
    }

    /// Whether `segs` (a path's segments, without a leading `::`) name this
    /// crate; the plain name `guv` always does.
    pub(crate) fn matches(&self, segs: &[String]) -> bool {
        segs == self.segments.as_slice() || segs == ["guv"]
    }

    /// The path as tokens, every token carrying `span`, followed by `rest`
    /// (more segments).
    pub(crate) fn tokens(&self, span: Span, rest: &[&str]) -> TokenStream {
        let mut out = TokenStream::new();
        if self.leading_colon {
            out.extend(path_sep(span));
        }
        let mut first = true;
        for seg in self.segments.iter().map(String::as_str).chain(rest.iter().copied()) {
            if !first {
                out.extend(path_sep(span));
            }
            first = false;
            out.extend([TokenTree::Ident(Ident::new(seg, span))]);
        }
        out
    }
}

/// `::` with the given span.
pub(crate) fn path_sep(span: Span) -> [TokenTree; 2] {
    let mut a = Punct::new(':', Spacing::Joint);
    a.set_span(span);
    let mut b = Punct::new(':', Spacing::Alone);
    b.set_span(span);
    [TokenTree::Punct(a), TokenTree::Punct(b)]
}

/// What `#[guv::patched(...)]` and `import_patched!` were asked to do.
#[derive(Clone, Debug)]
pub(crate) struct PatchConfig {
    pub(crate) groups: GroupSet,
    pub(crate) krate: CratePath,
}

impl PatchConfig {
    /// Every group, `::guv`: what `main`, `green` and `test` patch with.
    pub(crate) fn all(krate: CratePath) -> PatchConfig {
        PatchConfig { groups: GroupSet::all(), krate }
    }
}

/// Collects errors so that one attribute reports all its problems at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(crate) fn into_inner(self) -> Option<syn::Error> {
        self.0
    }
}

/// Splits `tokens` at top-level commas (a trailing comma is fine).
pub(crate) fn split_commas(tokens: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut out = vec![Vec::new()];
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => out.push(Vec::new()),
            _ => out.last_mut().expect("never empty").push(tt),
        }
    }
    if out.last().is_some_and(Vec::is_empty) {
        out.pop();
    }
    out
}

/// The first comma that follows another comma or starts the list: an
/// empty entry in `net,, thread`.
fn stray_comma(tokens: &TokenStream) -> Option<Span> {
    let mut after_comma = true;
    for tt in tokens.clone() {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if after_comma {
                    return Some(p.span());
                }
                after_comma = true;
            }
            _ => after_comma = false,
        }
    }
    None
}

/// Parses `net, thread, crate = "my_guv"`: group names (none means all)
/// and an optional `crate` path. `what` names the macro in messages, such
/// as `#[guv::patched]`.
pub(crate) fn parse_args(args: TokenStream, what: &str) -> syn::Result<PatchConfig> {
    let mut groups = GroupSet::EMPTY;
    let mut krate: Option<CratePath> = None;
    let mut errors = Errors::default();
    if let Some(comma) = stray_comma(&args) {
        errors.push(syn::Error::new(comma, format!("{what}: a comma with no group before it; remove it")));
    }
    for entry in split_commas(args) {
        let Some(first) = entry.first() else {
            continue;
        };
        let span = first.span();
        match entry.as_slice() {
            [TokenTree::Ident(id)] if id == "crate" => errors.push(syn::Error::new(
                span,
                format!("{what}: option `crate` needs a value, as in `crate = \"my_guv\"`"),
            )),
            [TokenTree::Ident(id)] => match Group::from_name(&id.to_string()) {
                Some(g) if groups.contains(g) => {
                    errors.push(syn::Error::new(span, format!("{what}: group `{id}` is given twice; keep one")))
                }
                Some(g) => groups = groups.with(g),
                None => errors.push(syn::Error::new(
                    span,
                    format!(
                        "{what}: unknown group `{id}`; valid groups are {} (or none, for all of them)",
                        valid_groups()
                    ),
                )),
            },
            [TokenTree::Ident(id), TokenTree::Punct(eq), value @ ..] if eq.as_char() == '=' && id == "crate" => {
                match crate_value(value, what) {
                    Ok(_) if krate.is_some() => {
                        errors.push(syn::Error::new(span, format!("{what}: option `crate` is given twice; keep one")))
                    }
                    Ok(path) => krate = Some(path),
                    Err(e) => errors.push(e),
                }
            }
            [TokenTree::Ident(id), TokenTree::Punct(eq), ..] if eq.as_char() == '=' => {
                let msg = match Group::from_name(&id.to_string()) {
                    Some(_) => {
                        format!("{what}: group `{id}` takes no value; write `{id}` to patch it, or leave it out")
                    }
                    None => format!(
                        "{what}: unknown option `{id}`; write group names ({}) and optionally `crate = \"...\"`",
                        valid_groups()
                    ),
                };
                errors.push(syn::Error::new(span, msg));
            }
            // `net thread`: the comma is missing after a valid group.
            [TokenTree::Ident(id), next, ..] if Group::from_name(&id.to_string()).is_some() => errors.push(
                syn::Error::new(next.span(), format!("{what}: expected `,` after the group `{id}`, before this")),
            ),
            _ => errors.push(syn::Error::new(
                span,
                format!("{what} takes a list of groups, such as `net, thread`; valid groups are {}", valid_groups()),
            )),
        }
    }
    errors.finish()?;
    Ok(PatchConfig {
        groups: if groups == GroupSet::EMPTY { GroupSet::all() } else { groups },
        krate: krate.unwrap_or_default(),
    })
}

/// The value of `crate = "..."`.
fn crate_value(value: &[TokenTree], what: &str) -> syn::Result<CratePath> {
    let bad = |span: Span| {
        syn::Error::new(
            span,
            format!("{what}: `crate` takes a string literal naming the guv crate's path, such as `crate = \"my_guv\"`"),
        )
    };
    let [tt] = value else {
        // `crate = "guv" net`: the comma is missing after the value.
        if let [TokenTree::Literal(_), next, ..] = value {
            return Err(syn::Error::new(
                next.span(),
                format!("{what}: expected `,` after the `crate` value, before this"),
            ));
        }
        let span = value.first().map_or_else(Span::call_site, TokenTree::span);
        return Err(bad(span));
    };
    let tt = match tt {
        // A literal passed through a `macro_rules!` arrives wrapped in an
        // invisible group.
        TokenTree::Group(g) if g.delimiter() == Delimiter::None => {
            g.stream().into_iter().next().unwrap_or_else(|| tt.clone())
        }
        other => other.clone(),
    };
    let lit: syn::LitStr = syn::parse2(TokenStream::from(tt.clone())).map_err(|_| bad(tt.span()))?;
    CratePath::parse(&lit.value()).ok_or_else(|| bad(tt.span()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> syn::Result<PatchConfig> {
        parse_args(args.parse().unwrap(), "#[guv::patched]")
    }

    fn err(args: &str) -> String {
        match parse(args) {
            Ok(_) => panic!("{args}: accepted"),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"),
        }
    }

    #[test]
    fn no_groups_means_all_and_names_select() {
        assert_eq!(parse("").unwrap().groups, GroupSet::all());
        let cfg = parse("net, sync,").unwrap();
        assert!(cfg.groups.contains(Group::Net) && cfg.groups.contains(Group::Sync));
        assert!(!cfg.groups.contains(Group::Thread));
        assert_eq!(cfg.krate, CratePath::default());
    }

    #[test]
    fn crate_option_names_a_path() {
        let cfg = parse("crate = \"::vendored::guv\", fs").unwrap();
        assert_eq!(cfg.krate.tokens(Span::call_site(), &["green"]).to_string(), ":: vendored :: guv :: green");
        assert!(err("crate = \"not a path\"").contains("string literal naming"));
        assert!(err("crate = \"a::\u{24d0}\"").contains("string literal naming"));
        assert!(parse("crate = \"crate::fake\"").is_ok());
        assert!(err("crate = my_guv").contains("string literal naming"));
        assert!(err("crate").contains("needs a value"));
        assert!(err("crate = \"a\", crate = \"b\"").contains("given twice"));
    }

    #[test]
    fn mistakes_are_reported_together_with_the_fix() {
        let e = err("nett, net, net, sync = true, 3");
        assert!(
            e.contains("unknown group `nett`; valid groups are `net`, `thread`, `time`, `sync`, `io`, `process`, `fs`"),
            "{e}"
        );
        assert!(e.contains("group `net` is given twice"), "{e}");
        assert!(e.contains("group `sync` takes no value"), "{e}");
        assert!(e.contains("takes a list of groups"), "{e}");
        for args in ["net,, sync", ",", ", net"] {
            assert!(err(args).contains("a comma with no group before it"), "{args}");
        }
        assert!(parse("net, sync,").is_ok());
        assert!(err("net thread").contains("expected `,` after the group `net`"));
        assert!(err("crate = \"g\" net").contains("expected `,` after the `crate` value"));
    }
}
