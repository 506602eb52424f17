//! `guv::import_patched!(mod name = "src/file.rs")`: Python's
//! `import_patched`, at compile time — include a source file as an inline
//! module with the patching walk applied.

use std::path::PathBuf;

use proc_macro2::{Delimiter, Ident, Literal, Span, TokenStream, TokenTree};
use quote::quote;

use crate::attr;
use crate::groups::{self, PatchConfig, split_commas};
use crate::rewrite::patch;

const WHAT: &str = "guv::import_patched!";

/// The parsed invocation.
struct Import {
    /// Outer attributes and visibility, as written.
    prefix: TokenStream,
    name: Ident,
    path: String,
    path_span: Span,
    cfg: PatchConfig,
}

fn usage(span: Span, found: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "{WHAT} takes `mod name = \"path/relative/to/the/crate.rs\"`, then optionally groups, \
             such as `{WHAT}(pub mod server = \"src/server.rs\", net, thread)`; {found}"
        ),
    )
}

fn parse(input: TokenStream) -> syn::Result<Import> {
    let mut entries = split_commas(input).into_iter();
    let head = entries.next().unwrap_or_default();
    let mut rest = TokenStream::new();
    for (i, entry) in entries.enumerate() {
        if i > 0 {
            rest.extend(quote!(,));
        }
        rest.extend(entry);
    }
    let mod_at = head.iter().position(|t| matches!(t, TokenTree::Ident(id) if id == "mod")).ok_or_else(|| {
        let span = head.first().map_or_else(Span::call_site, TokenTree::span);
        usage(span, "`mod` is missing")
    })?;
    let prefix: TokenStream = head[..mod_at].iter().cloned().collect();
    let (name, path_tt) = match &head[mod_at + 1..] {
        [TokenTree::Ident(name), TokenTree::Punct(eq), lit] if eq.as_char() == '=' => (name.clone(), lit.clone()),
        [TokenTree::Ident(_), TokenTree::Punct(eq), first, ..] if eq.as_char() == '=' => {
            return Err(usage(first.span(), "expected one string literal after `=`"));
        }
        _ => {
            return Err(usage(head[mod_at].span(), "expected `mod name = \"path\"` here"));
        }
    };
    let path_tt = match path_tt {
        TokenTree::Group(g) if g.delimiter() == Delimiter::None => {
            g.stream().into_iter().next().unwrap_or(TokenTree::Group(g))
        }
        other => other,
    };
    let lit: syn::LitStr = syn::parse2(TokenStream::from(path_tt.clone()))
        .map_err(|_| usage(path_tt.span(), "the path must be a string literal"))?;
    let cfg = groups::parse_args(rest, WHAT)?;
    Ok(Import { prefix, name, path: lit.value(), path_span: lit.span(), cfg })
}

/// The file's absolute path: relative to `CARGO_MANIFEST_DIR`.
fn locate(path: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(PathBuf::new, PathBuf::from);
    dir.join(path)
}

/// The first `mod name;` anywhere in `tokens`, which an inline module
/// cannot follow to its file.
fn out_of_line_mod(tokens: TokenStream) -> Option<(Ident, Span)> {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, tt) in tokens.iter().enumerate() {
        match tt {
            TokenTree::Group(g) => {
                if let Some(found) = out_of_line_mod(g.stream()) {
                    return Some(found);
                }
            }
            TokenTree::Ident(kw) if kw == "mod" => {
                if let (Some(TokenTree::Ident(name)), Some(TokenTree::Punct(semi))) =
                    (tokens.get(i + 1), tokens.get(i + 2))
                    && semi.as_char() == ';'
                {
                    return Some((name.clone(), kw.span()));
                }
            }
            _ => {}
        }
    }
    None
}

fn expand(import: Import) -> syn::Result<TokenStream> {
    let file = locate(&import.path);
    let source = std::fs::read_to_string(&file).map_err(|e| {
        syn::Error::new(
            import.path_span,
            format!(
                "{WHAT}: cannot read `{}` (the path is relative to the crate's directory, where its Cargo.toml is): {e}",
                import.path
            ),
        )
    })?;
    let source = source.strip_prefix("#!").map_or(source.as_str(), |rest| {
        // A `#!` line that is not an inner attribute (`#![`, or `#! [` with
        // whitespace between, as rustc reads it) is a shebang.
        if rest.trim_start().starts_with('[') { source.as_str() } else { rest.find('\n').map_or("", |n| &rest[n..]) }
    });
    let tokens: TokenStream = source
        .parse()
        .map_err(|e| syn::Error::new(import.path_span, format!("{WHAT}: `{}` is not valid Rust: {e}", import.path)))?;
    if let Some((name, _)) = out_of_line_mod(tokens.clone()) {
        return Err(syn::Error::new(
            import.path_span,
            format!(
                "{WHAT}: `{}` declares `mod {name};`, whose file an imported module cannot follow; \
                 inline it, or import it with its own `{WHAT}(mod {name} = \"...\")`",
                import.path
            ),
        ));
    }
    let (body, errors) = patch(tokens, &import.cfg);
    let errors = errors.map(|e| e.to_compile_error());
    let tracked = Literal::string(&file.to_string_lossy());
    let Import { prefix, name, .. } = import;
    Ok(quote! {
        #prefix mod #name {
            #body
            // Rebuild when the file changes.
            const _: &[u8] = ::core::include_bytes!(#tracked);
            #errors
        }
    })
}

/// The whole macro. On error, an empty module of that name (when the
/// invocation got that far) keeps paths into it from cascading.
pub(crate) fn import_patched(input: TokenStream) -> TokenStream {
    let import = match parse(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let fallback = {
        let (prefix, name) = (&import.prefix, &import.name);
        quote!(#prefix mod #name {})
    };
    match expand(import) {
        Ok(out) => out,
        Err(e) => attr::error_with(e, fallback),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> String {
        import_patched(input.parse().unwrap()).to_string()
    }

    /// Writes a file in a temporary directory and returns its absolute
    /// path (which `Path::join` keeps as it is).
    fn with_file(name: &str, contents: &str) -> String {
        let dir = std::env::temp_dir().join(format!("guv-import-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(name);
        std::fs::write(&file, contents).unwrap();
        file.to_str().unwrap().to_owned()
    }

    #[test]
    fn a_file_becomes_a_patched_module() {
        let path = with_file(
            "plain.rs",
            "#![allow(dead_code)]\n//! Docs.\nuse std::net::TcpStream;\npub fn f() -> bool { guv::is_patched!(net) }\n",
        );
        let out = run(&format!("#[cfg(test)] pub(crate) mod plain = \"{path}\", net"));
        assert!(out.starts_with("# [cfg (test)] pub (crate) mod plain { #! [allow (dead_code)]"), "{out}");
        assert!(out.contains("use :: guv :: green :: net :: TcpStream ;"), "{out}");
        assert!(out.contains("{ true }"), "{out}");
        assert!(out.contains("include_bytes !"), "{out}");
    }

    #[test]
    fn groups_and_shebangs() {
        let path = with_file("script.rs", "#!/usr/bin/env run\nfn f() { std::thread::spawn(g); std::fs::read(p); }\n");
        let out = run(&format!("mod script = \"{path}\", fs"));
        assert!(out.contains("std :: thread :: spawn"), "{out}");
        assert!(out.contains(":: guv :: green :: fs :: read"), "{out}");
        let path = with_file("spaced.rs", "#! [allow(dead_code)] fn f() {}\n");
        let out = run(&format!("mod spaced = \"{path}\""));
        assert!(out.contains("#! [allow (dead_code)] fn f () { }"), "{out}");
    }

    #[test]
    fn mistakes_name_the_fix() {
        let nested = with_file("nested.rs", "mod inner { mod deeper; }\n");
        let bad = with_file("bad.rs", "fn f() { \"unterminated }\n");
        for (input, msg) in [
            ("\"x.rs\"".to_owned(), "`mod` is missing"),
            ("mod m".to_owned(), "expected `mod name = \\\"path\\\"` here"),
            ("mod m = x".to_owned(), "must be a string literal"),
            (
                "mod m = \"missing.rs\"".to_owned(),
                "cannot read `missing.rs` (the path is relative to the crate's directory",
            ),
            (format!("mod m = \"{nested}\""), "declares `mod deeper;`"),
            (format!("mod m = \"{bad}\""), "is not valid Rust"),
            (format!("mod m = \"{nested}\", socket"), "unknown group `socket`"),
            (format!("mod m = \"{nested}\",, net"), "a comma with no group before it"),
        ] {
            let out = run(&input);
            assert!(out.contains("compile_error") && out.contains(msg), "{input}: {out}");
        }
        assert!(run("mod m = \"missing.rs\"").ends_with("mod m { }"));
    }
}
