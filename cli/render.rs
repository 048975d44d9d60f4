//! `--format json`: every command's answer and every failure as one JSON document on stdout,
//! in the shape `docs/git-signed.schema.json` documents. This module is the only place that
//! shape is written, the verdicts' included (the core's own serialization is not the
//! contract), so changing it means changing this file, the schema and [`VERSION`] together.
//!
//! ```json
//! {"version": 1, "command": "verify", "ok": false, "exit_code": 1,
//!  "result": {"environment": "production", "accepted": false, "summary": {…}, "tags": [ … ]},
//!  "error": null}
//! ```
//!
//! `result` is the command's answer (also when the answer is no, exit code 1); `error` is set
//! instead when the command ended without one: `{"kind", "message", "location"}`.

use git_signed_policy::chain::{ChainError, Step};
use git_signed_policy::signature::format_time;
use git_signed_policy::verdict::{LayerReport, RuleReport, Transition};
use git_signed_policy::{Policy, PolicyError, Principal, Verdict};
use serde_json::{Value, json};

use crate::Report;
use crate::audit::Audited;
use crate::exit::{Error, Kind};
use crate::policy_cmd::{History, access_name, environments, protected_globs, warnings};
use crate::policy_flow::Changed;
use crate::verify::Verified;
use crate::workflow::{Approved, Promoted, Proposed};

/// The shape's version: raised when a field is removed or changes its meaning (new fields
/// may appear without it).
pub const VERSION: u32 = 1;

/// One JSON document: the top level, in this order (the inner objects' keys are sorted).
#[derive(serde::Serialize)]
pub struct Document<'a> {
    version: u32,
    command: Option<&'a str>,
    ok: bool,
    exit_code: u8,
    result: Value,
    error: Value,
}

impl Document<'_> {
    /// Print it on stdout.
    pub fn print(&self) {
        match serde_json::to_string_pretty(self) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("git-signed: cannot write JSON: {e}"),
        }
    }
}

/// The document for a command that answered or failed, ending with exit code `code`.
pub fn document<'a>(command: Option<&'a str>, code: u8, answer: &Result<Report, Error>) -> Document<'a> {
    match answer {
        Ok(report) => envelope(command, code, result(report), Value::Null),
        Err(e) => {
            let location = match e {
                Error::Policy(p) => Some(p),
                _ => None,
            };
            failure(command, code, e.kind(), &e.to_string(), location)
        }
    }
}

/// The document for a failure of `kind`; `location` points into the policy file.
pub fn failure<'a>(
    command: Option<&'a str>,
    code: u8,
    kind: Kind,
    message: &str,
    location: Option<&PolicyError>,
) -> Document<'a> {
    let location = location.map(|p| json!({"file": p.file.display().to_string(), "line": p.line, "column": p.column}));
    envelope(command, code, Value::Null, json!({"kind": kind.name(), "message": message, "location": location}))
}

fn envelope(command: Option<&str>, code: u8, result: Value, error: Value) -> Document<'_> {
    Document { version: VERSION, command, ok: code == 0, exit_code: code, result, error }
}

fn result(report: &Report) -> Value {
    match report {
        Report::Proposed(p) => proposed(p),
        Report::Approved(a) => approved(a),
        Report::Promoted(p) => promoted(p),
        Report::Verified(v) => verified(v),
        Report::Audited(a) => audited(a),
        Report::PolicyChecked(p) => policy(p),
        Report::PolicyChanged(c) => policy_changed(c),
        Report::PolicyLog(h) => policy_log(h),
        Report::PolicyShown(h) => policy_shown(h),
    }
}

/// What `policy log` and `policy show` share: the root, the last commit read, the commit whose
/// policy is in force, who signed that change, and the first invalid commit or a last change
/// still waiting.
fn history_fields(h: &History) -> serde_json::Map<String, Value> {
    let state = &h.log.state;
    let refused = h.refused().map(|e| json!({"commit": e.commit().to_string(), "message": e.to_string()}));
    let waiting = match &h.log.stopped {
        Some(e @ ChainError::Unapproved { commit, have, needed }) => {
            json!({"commit": commit.to_string(), "signed_by": have, "needed": needed, "message": e.to_string()})
        }
        _ => Value::Null,
    };
    let mut map = serde_json::Map::new();
    map.insert("root".into(), json!(h.root.to_string()));
    map.insert("tip".into(), json!(h.tip.to_string()));
    map.insert("in_force".into(), json!(state.commit.to_string()));
    map.insert("signed_by".into(), json!(state.signed_by));
    map.insert("refused".into(), refused.unwrap_or(Value::Null));
    map.insert("waiting".into(), waiting);
    map
}

fn policy_changed(c: &Changed) -> Value {
    let (step, signed_by, changes, have, needed) = step_fields(&c.step);
    json!({
        "commit": c.commit.to_string(), "signer": (!c.signer.is_empty()).then_some(&c.signer), "step": step,
        "signed_by": signed_by, "changes": changes, "have": have, "needed": needed,
        "pushed_to": c.pushed_to, "remote": c.remote,
    })
}

/// A step's name and its fields (`null` where the step has none).
type StepFields<'s> = (&'static str, Option<&'s Vec<String>>, Option<&'s Vec<String>>, Option<usize>, Option<usize>);

fn step_fields(step: &Step) -> StepFields<'_> {
    match step {
        Step::Founded => ("founded", None, None, None, None),
        Step::Waiting { have, needed } => ("waiting", None, None, Some(*have), Some(*needed)),
        Step::InForce { signed_by, changes, .. } => ("in_force", Some(signed_by), Some(changes), None, None),
        Step::Unchanged => ("unchanged", None, None, None, None),
    }
}

fn policy_log(h: &History) -> Value {
    let entries: Vec<Value> = h
        .log
        .entries
        .iter()
        .map(|e| {
            let (step, signed_by, changes, have, needed) = step_fields(&e.step);
            json!({
                "commit": e.commit.to_string(), "time": e.time, "signer": e.signer, "step": step,
                "signed_by": signed_by, "changes": changes, "have": have, "needed": needed,
            })
        })
        .collect();
    let mut map = history_fields(h);
    map.insert("entries".into(), Value::Array(entries));
    Value::Object(map)
}

fn policy_shown(h: &History) -> Value {
    let mut map = history_fields(h);
    map.insert("policy".into(), policy(&h.log.state.policy));
    Value::Object(map)
}

fn proposed(p: &Proposed) -> Value {
    json!({
        "tag": p.tag, "proposal": p.proposal, "object": p.object, "commit": p.commit,
        "signer": p.signer, "remote": p.remote,
    })
}

fn approved(a: &Approved) -> Value {
    json!({
        "tag": a.tag, "object": a.object, "commit": a.commit, "proposers": a.proposers,
        "approver": a.approver, "signers": a.signers, "previous": a.previous, "commits": a.commits,
        "remote": a.remote,
    })
}

fn promoted(p: &Promoted) -> Value {
    json!({
        "tag": p.tag, "object": p.object, "from": p.from, "from_object": p.from_object,
        "initial": p.from.is_none(), "environment": p.environment, "machine": p.machine, "remote": p.remote,
    })
}

fn verified(v: &Verified) -> Value {
    let (verified, rejected) = v.counts();
    json!({
        "environment": v.environment,
        "accepted": v.accepted(),
        "summary": {"tags": v.verdicts.len(), "verified": verified, "rejected": rejected},
        "tags": v.verdicts.iter().map(verdict).collect::<Vec<_>>(),
    })
}

/// One tag's verdict: every layer, signer and rule, and the problems in words.
pub fn verdict(v: &Verdict) -> Value {
    json!({
        "tag": v.tag(),
        "object": v.object().map(|o| o.to_string()),
        "environment": v.environment(),
        "protected": v.protected(),
        "accepted": v.accepted(),
        "commit": v.commit().map(|c| c.to_string()),
        "layers": v.layers().iter().map(layer).collect::<Vec<_>>(),
        "rules": v.rules().iter().map(rule).collect::<Vec<_>>(),
        "people": v.people(),
        "machines": v.machines(),
        "problems": v.problems().iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn layer(l: &LayerReport) -> Value {
    json!({
        "number": l.number,
        "id": l.id.to_string(),
        "new": l.new,
        "signer": l.signer.as_ref().map(principal),
        "format": l.format,
        "key": l.key.as_ref().map(ToString::to_string),
        "key_type": l.key_type,
        "touch": l.touch.map(|t| json!({
            "presence": t.presence(),
            "verification": t.verification(),
            "flags": t.flags,
            "counter": t.counter,
        })),
        "signed_at": l.signed_at.map(format_time),
        "tagger": l.tagger.as_ref().map(ToString::to_string),
        "valid": l.valid(),
        "problem": l.problem.as_ref().map(ToString::to_string),
        "transition": l.transition.as_ref().map(transition),
    })
}

fn principal(p: &Principal) -> Value {
    let kind = match p {
        Principal::Person(_) => "person",
        Principal::Machine(_) => "machine",
    };
    json!({"kind": kind, "name": p.name()})
}

fn transition(t: &Transition) -> Value {
    json!({"from": t.from, "from_id": t.from_id, "initial": t.initial, "environment": t.environment})
}

fn rule(r: &RuleReport) -> Value {
    json!({"rule": r.rule, "line": r.line, "description": &*r.description, "holds": r.holds(), "reason": r.reason()})
}

fn audited(a: &Audited) -> Value {
    let people: Vec<Value> = a
        .people
        .iter()
        .map(|p| {
            json!({
                "name": p.name, "access": access_name(p.access), "sponsor": p.sponsor, "expires": p.expires,
                "granted": p.granted, "last_signature": p.last_signature, "findings": p.findings,
                "granted_in": p.granted_in.as_ref().map(|g| json!({
                    "commit": g.commit.to_string(), "time": g.time, "signed_by": g.signed_by,
                })),
            })
        })
        .collect();
    json!({"inactivity": a.inactivity, "people": people, "keys": a.keys, "findings": a.findings()})
}

fn policy(p: &Policy) -> Value {
    let duration = |d: Option<std::time::Duration>| d.map(git_signed_policy::duration::format);
    let people: Vec<Value> = p
        .people
        .values()
        .map(|person| {
            json!({
                "name": person.name,
                "access": access_name(person.access),
                "sponsor": person.sponsor,
                "expires": person.expires.map(|d| d.to_string()),
                "granted": person.granted.map(|d| d.to_string()),
                "keys": person.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    let machines: Vec<Value> = p
        .machines
        .values()
        .map(|m| json!({"name": m.name, "keys": m.keys.iter().map(ToString::to_string).collect::<Vec<_>>()}))
        .collect();
    let rules: Vec<Value> = p
        .rules
        .iter()
        .map(|r| {
            json!({
                "rule": r.number, "line": r.line, "tags": r.tags, "environments": r.environments,
                "people": r.people, "machines": r.machines, "max_age": duration(r.max_age),
            })
        })
        .collect();
    json!({
        "path": p.path.display().to_string(),
        "environments": environments(p),
        "protects": protected_globs(p),
        "inactivity": duration(p.inactivity),
        "people": people,
        "machines": machines,
        "rules": rules,
        "warnings": warnings(p),
    })
}
