//! Manual pages from a binary's clap definition: one page per command and subcommand
//! (`git-signed.1`, `git-signed-verify.1`, `git-signed-policy-check.1`), rendered by
//! clap_mangen, plus the sections `--help` keeps in its closing text. A paragraph of a
//! command's `after_help` that starts with "Example" goes to EXAMPLES, one that starts with
//! "Exit status" to EXIT STATUS, any other to DESCRIPTION. A subcommand that states no exit
//! status of its own has its binary's.

use std::io;
use std::path::Path;

use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

/// What every page of one binary shares.
struct Book {
    /// The page footer: the binary and its version.
    source: String,
    /// The day the pages were made (`SOURCE_DATE_EPOCH`, for reproducible builds, or today).
    date: String,
    /// The binary's exit status, for subcommands that state none.
    exit_status: Option<String>,
}

/// Write a page for `cmd` and for each of its visible subcommands into `dir`.
pub fn write_all(cmd: clap::Command, dir: &Path) -> io::Result<()> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let book = Book {
        source: format!("{} {}", cmd.get_name(), cmd.get_version().unwrap_or_default()),
        date: today(),
        exit_status: Closing::of(&cmd).exit_status,
    };
    std::fs::create_dir_all(dir)?;
    write_page(&book, &cmd, &[], dir)
}

fn write_page(book: &Book, cmd: &clap::Command, parents: &[String], dir: &Path) -> io::Result<()> {
    let name = page_name(cmd);
    let mut lineage = parents.to_vec();
    lineage.push(name.clone());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_page(book, sub, &lineage, dir)?;
    }
    std::fs::write(dir.join(format!("{name}.1")), render(book, cmd, parents)?)
}

fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name()).to_owned()
}

/// The page for `cmd`, whose parent commands' pages are `parents`.
fn render(book: &Book, cmd: &clap::Command, parents: &[String]) -> io::Result<Vec<u8>> {
    let closing = Closing::of(cmd);
    let bare = cmd.clone().after_help(None::<&str>).after_long_help(None::<&str>);
    let name = page_name(cmd);
    let man = Man::new(bare.clone())
        .title(name.to_uppercase())
        .date(&book.date)
        .source(&book.source)
        .manual("git-signed Manual");

    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    let mut roff = Roff::new();
    for paragraph in &closing.description {
        roff.control("PP", []);
        lines(&mut roff, paragraph);
    }
    roff.to_writer(&mut out)?;
    if bare.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if bare.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }

    let mut roff = Roff::new();
    if let Some(status) = closing.exit_status.as_ref().or(book.exit_status.as_ref()) {
        roff.control("SH", ["EXIT STATUS"]);
        exit_status(&mut roff, status);
    }
    if !closing.examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for example in &closing.examples {
            examples(&mut roff, example);
        }
    }
    let see_also: Vec<String> = if parents.is_empty() {
        super::PRODUCT_PAGES.iter().filter(|p| **p != name).map(|p| format!("{p}(1)")).collect()
    } else {
        parents.iter().rev().map(|p| format!("{p}(1)")).collect()
    };
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(see_also.join(", "))]);
    roff.to_writer(&mut out)?;
    Ok(without_repeated_preamble(out))
}

fn today() -> String {
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok());
    let now = epoch.and_then(|s| jiff::Timestamp::from_second(s).ok()).unwrap_or_else(jiff::Timestamp::now);
    now.strftime("%Y-%m-%d").to_string()
}

/// A command's `after_help`, sorted into the sections it belongs to.
#[derive(Default)]
struct Closing {
    examples: Vec<String>,
    exit_status: Option<String>,
    description: Vec<String>,
}

impl Closing {
    fn of(cmd: &clap::Command) -> Closing {
        let text = cmd.get_after_long_help().or_else(|| cmd.get_after_help()).map(ToString::to_string);
        let mut closing = Closing::default();
        for paragraph in text.iter().flat_map(|t| t.split("\n\n")).map(str::trim_end).filter(|p| !p.is_empty()) {
            if paragraph.starts_with("Example") {
                closing.examples.push(paragraph.to_owned());
            } else if let Some(rest) = paragraph.strip_prefix("Exit status") {
                closing.exit_status = Some(rest.split_once(':').map_or(rest, |(_, r)| r).trim().to_owned());
            } else {
                closing.description.push(paragraph.to_owned());
            }
        }
        closing
    }
}

/// Unindented lines as filled text, indented ones (lists, commands) kept as written.
fn lines(roff: &mut Roff, paragraph: &str) {
    let mut verbatim = false;
    for line in paragraph.lines() {
        let indented = line.starts_with(' ');
        if indented != verbatim {
            roff.control(if indented { "nf" } else { "fi" }, []);
            verbatim = indented;
        }
        roff.text([roman(line)]);
    }
    if verbatim {
        roff.control("fi", []);
    }
}

/// An "Example…:" paragraph: its context ("Example (the reviewer):") as text, then the
/// commands as an indented block.
fn examples(roff: &mut Roff, paragraph: &str) {
    let (heading, commands) = paragraph.split_once('\n').unwrap_or((paragraph, ""));
    roff.control("PP", []);
    if let Some(context) = heading.split_once('(').and_then(|(_, c)| c.rsplit_once(')')).map(|(c, _)| c) {
        let mut chars = context.chars();
        let context: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
        roff.text([roman(format!("{context}:"))]);
    }
    roff.control("RS", ["4"]).control("nf", []);
    let indent = commands.lines().filter_map(|l| l.find(|c| c != ' ')).min().unwrap_or(0);
    for line in commands.lines() {
        roff.text([roman(line.get(indent..).unwrap_or(""))]);
    }
    roff.control("fi", []).control("RE", []);
}

/// "0 every tag satisfies the policy, 1 some tag does not, 2 usage or internal error." (or one
/// code a line) as a list of codes; any other text as it is.
fn exit_status(roff: &mut Roff, text: &str) {
    let Some(codes) = exit_codes(text) else {
        roff.text([roman(text)]);
        return;
    };
    for (code, meaning) in codes {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(meaning)]);
    }
}

fn exit_codes(text: &str) -> Option<Vec<(String, String)>> {
    let mut codes: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        for (i, piece) in line.trim().split(", ").enumerate() {
            let digits = piece.find(|c: char| !c.is_ascii_digit()).unwrap_or(piece.len());
            let meaning = piece[digits..].trim_start();
            if digits > 0 && piece[digits..].starts_with(' ') && !meaning.is_empty() {
                codes.push((piece[..digits].to_owned(), meaning.to_owned()));
            } else {
                let (_, previous) = codes.last_mut()?;
                previous.push_str(if i == 0 { " " } else { ", " });
                previous.push_str(piece);
            }
        }
    }
    if let Some((_, last)) = codes.last_mut()
        && last.ends_with('.')
    {
        last.pop();
    }
    (!codes.is_empty()).then_some(codes)
}

/// Every rendered section starts with roff's two-line apostrophe preamble; keep the first.
fn without_repeated_preamble(page: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&page);
    let mut preamble_lines = 0;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq") {
            preamble_lines += 1;
            if preamble_lines > 2 {
                continue;
            }
        }
        out.push_str(line);
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<(String, String)> {
        exit_codes(text).unwrap_or_default()
    }

    #[test]
    fn exit_status_in_one_sentence() {
        assert_eq!(
            codes("0 every tag satisfies the policy, 1 some tag does not, 2 usage or internal error."),
            [("0", "every tag satisfies the policy"), ("1", "some tag does not"), ("2", "usage or internal error")]
                .map(|(c, m)| (c.to_owned(), m.to_owned()))
        );
    }

    #[test]
    fn exit_status_one_code_a_line_with_commas_and_wrapped_lines() {
        let text = "  0  fine (the tags verify, the policy is valid)\n  1  no\n  2  could not answer (usage,\n     internal error)";
        assert_eq!(
            codes(text),
            [
                ("0", "fine (the tags verify, the policy is valid)"),
                ("1", "no"),
                ("2", "could not answer (usage, internal error)")
            ]
            .map(|(c, m)| (c.to_owned(), m.to_owned()))
        );
    }

    #[test]
    fn exit_status_that_lists_no_codes_stays_text() {
        assert!(exit_codes("whatever git says").is_none());
    }

    #[test]
    fn closing_text_is_sorted_into_sections() {
        let cmd = clap::Command::new("x").after_help(
            "Example (the reviewer):\n  x approve deploy/42\n\nYou cannot approve your own tag.\n\nExit status: 0 yes, 1 no.",
        );
        let closing = Closing::of(&cmd);
        assert_eq!(closing.examples, ["Example (the reviewer):\n  x approve deploy/42"]);
        assert_eq!(closing.description, ["You cannot approve your own tag."]);
        assert_eq!(closing.exit_status.as_deref(), Some("0 yes, 1 no."));
    }
}
