//! The text for people: every command's answer on stdout, failures on stderr as
//! `git-signed: <what went wrong>; <what to do>`. No escape codes: the CLI has nothing to
//! colour that words do not already say (ACCEPTED, REJECTED, FAILS).

use git_signed_policy::chain::Step;
use git_signed_policy::policy::DEFAULT_MAX_AGE;
use git_signed_policy::signature::format_time;
use git_signed_policy::verdict::short;
use git_signed_policy::{PUSH_ENVIRONMENT, Policy, Problem, Verdict};

use crate::Report;
use crate::audit::Audited;
use crate::policy_cmd::{History, access_name, environments, in_words, protected_globs, warnings};
use crate::policy_flow::Changed;
use crate::verify::Verified;

/// Why a command ended without its answer, on stderr.
pub fn error(message: &str) {
    eprintln!("git-signed: {message}");
}

/// Something the command went on despite, on stderr.
pub fn warning(message: &str) {
    eprintln!("git-signed: warning: {message}");
}

/// A command's answer, on stdout.
pub fn print(report: &Report) {
    match report {
        Report::Proposed(p) => println!(
            "proposed {} ({}) for commit {}, signed by {}.\nA reviewer now runs: git signed approve {}",
            p.tag,
            short_hex(&p.object),
            short_hex(&p.commit),
            p.signer,
            p.tag
        ),
        Report::Approved(a) => {
            println!("approved {}: signed by {}, pushed to {}", a.tag, a.signers.join(", "), a.remote)
        }
        Report::Promoted(p) => match &p.from {
            Some(from) => {
                println!("promoted {} from {from} on {}, signed by machine {}", p.tag, p.environment, p.machine)
            }
            None => {
                println!("promoted {} as the first deploy on {}, signed by machine {}", p.tag, p.environment, p.machine)
            }
        },
        Report::Verified(v) => verified(v),
        Report::Audited(a) => audited(a),
        Report::PolicyChecked(p) => policy(p),
        Report::PolicyChanged(c) => policy_changed(c),
        Report::PolicyLog(h) => policy_log(h),
        Report::PolicyShown(h) => policy_shown(h),
    }
}

fn short_hex(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Every verdict (or, with `--quiet`, one line per rejected tag), then a summary line when
/// more than one tag was asked about.
fn verified(v: &Verified) {
    for verdict in &v.verdicts {
        match (v.quiet, verdict.accepted()) {
            (false, _) => print_verdict(verdict),
            (true, false) => println!("{}", verdict.summary()),
            (true, true) => {}
        }
    }
    if v.quiet || !(v.all || v.verdicts.len() > 1) {
        return;
    }
    let (verified, rejected) = v.counts();
    match v.verdicts.len() {
        0 => {
            println!("no tag in this repository is protected by {} (environment {})", v.policy.display(), v.environment)
        }
        n => println!(
            "{n} {} for environment {}: {verified} verified, {rejected} rejected",
            if n == 1 { "tag" } else { "tags" },
            v.environment
        ),
    }
}

/// One tag: the verdict, each layer, each rule, and any other problem.
fn print_verdict(v: &Verdict) {
    let head = if v.accepted() { "ACCEPTED" } else { "REJECTED" };
    let commit = v.commit().map(|c| format!(" -> commit {}", short(&c))).unwrap_or_default();
    println!("{}: {head} for environment {}{commit}", v.tag(), v.environment());
    for l in v.layers() {
        let who = l.signer.as_ref().map_or_else(|| "unknown signer".to_owned(), ToString::to_string);
        let when = match (l.signed_at, l.format) {
            (Some(t), _) => format_time(t),
            (None, Some("ssh")) => "(SSH: no time)".to_owned(),
            (None, _) => "-".to_owned(),
        };
        let touch = match l.touch {
            Some(t) if t.presence() && t.verification() => ", security key touched and PIN-verified",
            Some(t) if t.presence() => ", security key touched",
            Some(_) => ", security key NOT touched",
            None => "",
        };
        let status = match &l.problem {
            None => "ok".to_owned(),
            Some(p) => format!("INVALID: {p}"),
        };
        println!("  layer {} {} {who}, signed {when}{touch}: {status}", l.number, short(&l.id));
    }
    for r in v.rules() {
        let mark = if r.holds() { "ok" } else { "FAILS" };
        println!("  {} [line {}]: {mark}: {}", r.description, r.line, r.reason());
    }
    for p in v.problems().iter().filter(|p| !matches!(p, Problem::Layer { .. } | Problem::Rule { .. })) {
        println!("  {p}");
    }
}

fn audited(a: &Audited) {
    for p in &a.people {
        let last = p.last_signature.as_deref().unwrap_or("never");
        let status = if p.findings.is_empty() { "ok".to_owned() } else { p.findings.join("; ") };
        println!("{} ({}, last signed {last}): {status}", p.name, access_name(p.access));
        if let Some(g) = &p.granted_in {
            let by = if g.signed_by.is_empty() {
                "the founding commit".to_owned()
            } else {
                format!("signed by {}", g.signed_by.join(", "))
            };
            println!("  access granted {} in policy commit {} ({by})", g.time, short(&g.commit));
        }
    }
    for k in &a.keys {
        println!("{k}");
    }
    if a.findings() == 0 {
        println!("nothing needs attention");
    }
}

fn policy_changed(c: &Changed) {
    let commit = short(&c.commit);
    match (&c.step, &c.pushed_to) {
        (Step::Founded, _) => println!(
            "founded the policy: {commit} is the root of trust, kept here as refs/signed/policy.\n\
             Pin the mirror to it, then push it:\n  ./install.sh --repo <mirror> --root {}\n  git push {} refs/signed/policy\n\
             and pin every environment: git config signed.root {0}",
            c.commit, c.remote
        ),
        (Step::InForce { signed_by, changes, .. }, Some(to)) => println!(
            "policy change {commit} is in force on {to}, signed by {}: {}",
            signed_by.join(", "),
            if changes.is_empty() { "no visible change".to_owned() } else { changes.join("; ") }
        ),
        (Step::Waiting { have, needed }, Some(to)) => println!(
            "policy change {commit} signed by {}, waiting on {to}: {have} of the {needed} admins it needs.\n\
             Another admin runs: git signed policy approve",
            c.signer
        ),
        (step, to) => println!("policy commit {commit}: {step:?} ({})", to.as_deref().unwrap_or("not pushed")),
    }
}

fn policy_log(h: &History) {
    for e in &h.log.entries {
        let when = format_time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.time.max(0).unsigned_abs()));
        let who = e.signer.as_deref().unwrap_or("-");
        let what = match &e.step {
            Step::Founded => "founds the policy (the pinned signed.root)".to_owned(),
            Step::Waiting { have, needed } => format!("signs a change: {have} of the {needed} admins it needs"),
            Step::InForce { signed_by, changes, .. } => {
                let changes = if changes.is_empty() { "no change".to_owned() } else { changes.join("; ") };
                format!("in force, signed by {}: {changes}", signed_by.join(", "))
            }
            Step::Unchanged => "signs the policy in force (nothing changes)".to_owned(),
        };
        println!("{} {when} {who}: {what}", short(&e.commit));
    }
    history_end(h);
}

/// How a history ends: a change still waiting, or the first invalid commit.
fn history_end(h: &History) {
    match (&h.log.stopped, h.refused()) {
        (_, Some(e)) => println!(
            "REFUSED from {}: {e}
The policy of {} stays in force.",
            short(&e.commit()),
            short(&h.log.state.commit)
        ),
        (Some(waiting), None) => println!("waiting: {waiting}"),
        (None, None) => {}
    }
}

fn policy_shown(h: &History) {
    let state = &h.log.state;
    let by = if state.signed_by.is_empty() {
        "the pinned signed.root".to_owned()
    } else {
        format!("signed by {}", state.signed_by.join(", "))
    };
    println!("in force at {}: the policy of {} ({by})", short(&h.tip), short(&state.commit));
    history_end(h);
    policy(&state.policy);
}

fn policy(p: &Policy) {
    println!("{}: valid", p.path.display());
    println!("  environments: {}", environments(p).join(", "));
    println!("  protects {}", protected_globs(p).join(", "));
    if let Some(d) = p.inactivity {
        println!("  inactivity: access lapses after {} without an accepted signature", in_words(d));
    }
    for person in p.people.values() {
        let expires = person.expires.map(|d| format!(", expires {d}")).unwrap_or_default();
        let sponsor = person.sponsor.as_deref().map(|s| format!(", sponsored by {s}")).unwrap_or_default();
        println!(
            "  person {}: {} access{sponsor}{expires}, {} key(s)",
            person.name,
            access_name(person.access),
            person.keys.len()
        );
    }
    for m in p.machines.values() {
        println!("  machine {}: {} key(s)", m.name, m.keys.len());
    }
    for r in &p.rules {
        let max_age = match (r.applies_in(PUSH_ENVIRONMENT), r.max_age) {
            (true, Some(d)) => format!(", max_age at push {}", in_words(d)),
            (true, None) => format!(", max_age at push {} (default)", in_words(DEFAULT_MAX_AGE)),
            (false, Some(d)) => {
                format!(", max_age {} (only checked at push, where this rule does not apply)", in_words(d))
            }
            (false, None) => String::new(),
        };
        println!("  {} [line {}]{max_age}", r.describe(), r.line);
    }
    for w in warnings(p) {
        println!("  warning: {w}");
    }
}
