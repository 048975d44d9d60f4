//! Parsing what git says to a remote helper, one line at a time (gitremote-helpers(7)).
//! Pure functions over text: no I/O, so the parser can be fuzzed on its own.

use gix::ObjectId;

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

/// Parse one line (without its newline; a trailing `\r` is ignored).
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(match line {
        "" => Command::Blank,
        "capabilities" => Command::Capabilities,
        "list" => Command::List,
        "list for-push" => Command::ListForPush,
        _ => {
            if let Some(rest) = line.strip_prefix("option ") {
                let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
                if name.is_empty() {
                    return Err(format!("malformed option line {line:?}"));
                }
                Command::Option { name: name.to_owned(), value: unquote(value) }
            } else if let Some(rest) = line.strip_prefix("fetch ") {
                let (hex, name) = rest.split_once(' ').ok_or_else(|| format!("malformed fetch line {line:?}"))?;
                let id = ObjectId::from_hex(hex.as_bytes()).map_err(|e| format!("malformed object id {hex:?}: {e}"))?;
                if name.is_empty() {
                    return Err(format!("malformed fetch line {line:?}"));
                }
                Command::Fetch { id, name: name.to_owned() }
            } else if let Some(spec) = line.strip_prefix("push ") {
                if !spec.contains(':') {
                    return Err(format!("malformed push line {line:?}"));
                }
                Command::Push(spec.to_owned())
            } else {
                return Err(format!("unknown command {line:?} from git"));
            }
        }
    })
}

/// Undo git's C-style quoting of option values (`"a b\n"`), leaving bare values as they are.
pub fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_git_sends() {
        assert_eq!(parse("capabilities"), Ok(Command::Capabilities));
        assert_eq!(parse("list for-push\r"), Ok(Command::ListForPush));
        assert_eq!(
            parse("option push-option \"a b\\n\""),
            Ok(Command::Option { name: "push-option".into(), value: "a b\n".into() })
        );
        let hex = "1e61d6600000000000000000000000000000000a";
        assert!(matches!(parse(&format!("fetch {hex} refs/heads/main")), Ok(Command::Fetch { .. })));
        assert_eq!(parse("push +HEAD:refs/heads/x"), Ok(Command::Push("+HEAD:refs/heads/x".into())));
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in ["fetch", "fetch zz refs/x", "fetch 1234 ", "push nocolon", "option ", "connect git-upload-pack"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
