//! What git and the helper say to each other, one line at a time (gitremote-helpers(7)): the
//! commands git writes ([`Command`], read with [`parse`]) and the replies the helper writes
//! ([`Reply`], written with `Display`). Pure functions over text: no I/O and no decisions, so
//! the protocol can be fuzzed and tested on its own.

use std::fmt;
use std::path::Path;

use gix::ObjectId;
use gix::bstr::ByteSlice;

/// One command line from git.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A blank line: end of the session (or of a batch).
    Blank,
    /// `capabilities`
    Capabilities,
    /// `option <name> <value>` (value unquoted)
    Option { name: String, value: String },
    /// `list`
    List,
    /// `list for-push`
    ListForPush,
    /// `fetch <oid> <name>`
    Fetch { id: ObjectId, name: String },
    /// `push [+]<src>:<dst>`
    Push(String),
}

/// A line git should never have sent.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// `option` without a name, or with a value quoted wrongly.
    #[error("malformed option line {line:?}")]
    Option { line: String },
    /// `fetch` without an object id and a name.
    #[error("malformed fetch line {line:?}")]
    Fetch { line: String },
    /// `fetch` with something else than an object id.
    #[error("malformed object id {hex:?}: {source}")]
    ObjectId { hex: String, source: gix::Error },
    /// `push` without `<src>:<dst>`.
    #[error("malformed push line {line:?}")]
    Push { line: String },
    /// A command the helper did not announce (`connect`, …).
    #[error("unknown command {line:?} from git")]
    Unknown { line: String },
}

/// Parse one line (without its newline; a trailing `\r` is ignored).
pub fn parse(line: &str) -> Result<Command, ParseError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let malformed = |kind: fn(String) -> ParseError| kind(line.to_owned());
    Ok(match line {
        "" => Command::Blank,
        "capabilities" => Command::Capabilities,
        "list" => Command::List,
        "list for-push" => Command::ListForPush,
        _ => {
            if let Some(rest) = line.strip_prefix("option ") {
                let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
                let value = unquote(value).filter(|_| !name.is_empty());
                let value = value.ok_or_else(|| malformed(|line| ParseError::Option { line }))?;
                Command::Option { name: name.to_owned(), value }
            } else if let Some(rest) = line.strip_prefix("fetch ") {
                let (hex, name) = rest.split_once(' ').ok_or_else(|| malformed(|line| ParseError::Fetch { line }))?;
                let id = ObjectId::from_hex(hex.as_bytes())
                    .map_err(|source| ParseError::ObjectId { hex: hex.to_owned(), source })?;
                if name.is_empty() {
                    return Err(malformed(|line| ParseError::Fetch { line }));
                }
                Command::Fetch { id, name: name.to_owned() }
            } else if let Some(spec) = line.strip_prefix("push ") {
                if !spec.contains(':') {
                    return Err(malformed(|line| ParseError::Push { line }));
                }
                Command::Push(spec.to_owned())
            } else {
                return Err(malformed(|line| ParseError::Unknown { line }));
            }
        }
    })
}

/// Undo git's C-style quoting of an option value (`"a b\n"`, `"caf\303\251"`), leaving bare
/// values as they are; `None` when the quoting is broken or the value is not UTF-8.
pub fn unquote(value: &str) -> Option<String> {
    let (text, consumed) = gix::quote::ansi_c::undo(value.as_bytes().as_bstr()).ok()?;
    if consumed != value.len() {
        return None;
    }
    String::from_utf8(text.into_owned().into()).ok()
}

/// A ref as `list` shows it: `<id> <name>`, and `<peeled> <name>^{}` when it is a tag object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// The full name, `refs/tags/deploy/1`, or `HEAD`.
    pub name: String,
    /// The object it points at.
    pub id: ObjectId,
    /// The `^{}` value when it points at a tag object.
    pub peeled: Option<ObjectId>,
}

/// Whether each ref's name sorts after the one before (as git lists refs), so that none is
/// listed twice.
pub fn in_order(refs: &[Ref]) -> bool {
    refs.windows(2).all(|w| w[0].name < w[1].name)
}

/// A symbolic ref as `list` shows it: `@<target> <name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symref {
    /// The symbolic ref, usually `HEAD`.
    pub name: String,
    /// The ref it points at.
    pub target: String,
}

/// The answer to an `option` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionStatus {
    /// `ok`: the option is set.
    Ok,
    /// `unsupported`: git carries on without it.
    Unsupported,
    /// `error invalid value`.
    Invalid,
}

/// How one ref of a push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushStatus {
    /// `ok <dst>`, with git's note (`forced update`, `up to date`) if any.
    Ok { dst: String, note: Option<&'static str> },
    /// `error <dst> <why>`.
    Error { dst: String, why: String },
}

/// One reply to git, ending with the blank line that ends it where the protocol wants one.
#[derive(Debug, Clone, Copy)]
pub enum Reply<'a> {
    /// To `capabilities`: what this helper speaks.
    Capabilities,
    /// To `option`.
    Option(OptionStatus),
    /// To `list` (with the object format when git asked for it) and `list for-push`.
    List { object_format: Option<gix::hash::Kind>, symrefs: &'a [Symref], refs: &'a [Ref] },
    /// To a `fetch` batch: the `.keep` file protecting the new pack, if one arrived, and
    /// whether git may skip its connectivity walk.
    Fetched { lock: Option<&'a Path>, connectivity_ok: bool },
    /// To a `push` batch: one status per ref.
    Pushed(&'a [PushStatus]),
}

impl fmt::Display for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Capabilities => f.write_str("option\nfetch\npush\nobject-format\ncheck-connectivity\n"),
            Reply::Option(OptionStatus::Ok) => return f.write_str("ok\n"),
            Reply::Option(OptionStatus::Unsupported) => return f.write_str("unsupported\n"),
            Reply::Option(OptionStatus::Invalid) => return f.write_str("error invalid value\n"),
            Reply::List { object_format, symrefs, refs } => list(f, *object_format, symrefs, refs),
            Reply::Fetched { lock: None, .. } => Ok(()),
            Reply::Fetched { lock: Some(path), connectivity_ok } => {
                writeln!(f, "lock {}", path.display())?;
                if *connectivity_ok { f.write_str("connectivity-ok\n") } else { Ok(()) }
            }
            Reply::Pushed(statuses) => statuses.iter().try_for_each(|s| push_status(f, s)),
        }?;
        f.write_str("\n")
    }
}

fn list(f: &mut fmt::Formatter<'_>, format: Option<gix::hash::Kind>, symrefs: &[Symref], refs: &[Ref]) -> fmt::Result {
    if let Some(hash) = format {
        writeln!(f, ":object-format {hash}")?;
    }
    for s in symrefs {
        writeln!(f, "@{} {}", s.target, s.name)?;
    }
    for r in refs.iter().filter(|r| !symrefs.iter().any(|s| s.name == r.name)) {
        writeln!(f, "{} {}", r.id, r.name)?;
        if let Some(peeled) = r.peeled {
            writeln!(f, "{peeled} {}^{{}}", r.name)?;
        }
    }
    Ok(())
}

fn push_status(f: &mut fmt::Formatter<'_>, status: &PushStatus) -> fmt::Result {
    match status {
        PushStatus::Ok { dst, note: None } => writeln!(f, "ok {dst}"),
        PushStatus::Ok { dst, note: Some(note) } => writeln!(f, "ok {dst} {note}"),
        // git reads the reason up to the end of the line, C-unquoting it when quoted.
        PushStatus::Error { dst, why } if why.contains('\n') || why.starts_with('"') => {
            writeln!(f, "error {dst} {why:?}")
        }
        PushStatus::Error { dst, why } => writeln!(f, "error {dst} {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_git_sends() {
        assert_eq!(parse("capabilities").ok(), Some(Command::Capabilities));
        assert_eq!(parse("list for-push\r").ok(), Some(Command::ListForPush));
        assert_eq!(
            parse("option push-option \"a b\\n\"").ok(),
            Some(Command::Option { name: "push-option".into(), value: "a b\n".into() })
        );
        let hex = "1e61d6600000000000000000000000000000000a";
        assert!(matches!(parse(&format!("fetch {hex} refs/heads/main")), Ok(Command::Fetch { .. })));
        assert_eq!(parse("push +HEAD:refs/heads/x").ok(), Some(Command::Push("+HEAD:refs/heads/x".into())));
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in [
            "fetch",
            "fetch zz refs/x",
            "fetch 1234 ",
            "push nocolon",
            "option ",
            "option x \"unterminated",
            "option x \"a\"b",
            "connect git-upload-pack",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unquotes_octal_escapes_as_utf8_bytes() {
        // `git push -o café` arrives as git's quote_c_style writes it: one escape per byte.
        assert_eq!(unquote(r#""caf\303\251""#).as_deref(), Some("café"));
        assert_eq!(unquote(r#""tab\there \"q\" back\\slash""#).as_deref(), Some("tab\there \"q\" back\\slash"));
        assert_eq!(unquote("bare value").as_deref(), Some("bare value"));
        assert_eq!(unquote(r#""\377""#), None, "not UTF-8");
    }

    #[test]
    fn replies_as_git_reads_them() {
        let id = ObjectId::from_hex(b"1e61d6600000000000000000000000000000000a").expect("hex");
        let refs = [
            Ref { name: "HEAD".into(), id, peeled: None },
            Ref { name: "refs/tags/deploy/1".into(), id, peeled: Some(id) },
        ];
        let symrefs = [Symref { name: "HEAD".into(), target: "refs/heads/main".into() }];
        let listed = Reply::List { object_format: Some(gix::hash::Kind::Sha1), symrefs: &symrefs, refs: &refs };
        assert_eq!(
            listed.to_string(),
            format!(
                ":object-format sha1\n@refs/heads/main HEAD\n{id} refs/tags/deploy/1\n{id} refs/tags/deploy/1^{{}}\n\n"
            )
        );
        let statuses = [
            PushStatus::Ok { dst: "refs/heads/a".into(), note: Some("forced update") },
            PushStatus::Error { dst: "refs/tags/b".into(), why: "two\nlines".into() },
        ];
        assert_eq!(
            Reply::Pushed(&statuses).to_string(),
            "ok refs/heads/a forced update\nerror refs/tags/b \"two\\nlines\"\n\n"
        );
        assert_eq!(Reply::Option(OptionStatus::Invalid).to_string(), "error invalid value\n");
        assert_eq!(Reply::Fetched { lock: None, connectivity_ok: false }.to_string(), "\n");
    }
}
