//! The verdict for one ref update, following the table in design.md §5. Signature and rule
//! questions go to the core's `verify_tag`; this module only knows which question to ask.

use std::time::SystemTime;

use git_signed_policy::layer;
use git_signed_policy::verdict::{Request, Verdict, short};
use git_signed_policy::{Activity, PUSH_ENVIRONMENT, Policy, Repo};
use gix::ObjectId;

/// The namespace where half-signed proposals travel (design.md §3).
pub const PROPOSED: &str = "refs/signed/proposed/";

/// One `<old> <new> <ref>` line.
#[derive(Debug, Clone)]
pub struct Update {
    pub old: ObjectId,
    pub new: ObjectId,
    pub refname: String,
}

/// What the hook decided for one update.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    pub refname: String,
    pub accepted: bool,
    /// Shown to the pusher; `None` for refs the hook leaves alone.
    pub message: Option<String>,
    /// Valid signers, for the audit log.
    pub signers: Vec<String>,
    /// Every reason the update was rejected.
    pub reasons: Vec<String>,
}

impl Decision {
    fn untouched(refname: &str) -> Decision {
        Decision {
            refname: refname.to_owned(),
            accepted: true,
            message: None,
            signers: Vec::new(),
            reasons: Vec::new(),
        }
    }

    fn reject(refname: &str, reason: String) -> Decision {
        Decision {
            refname: refname.to_owned(),
            accepted: false,
            message: Some(reason.clone()),
            signers: Vec::new(),
            reasons: vec![reason],
        }
    }
}

/// Parse git's pre-receive input; any malformed line fails the whole push.
pub fn parse_updates(input: &str) -> Result<Vec<Update>, String> {
    input
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let (Some(old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("malformed ref update line {line:?}"));
            };
            let id = |hex: &str| ObjectId::from_hex(hex.as_bytes()).map_err(|e| format!("bad object id {hex:?}: {e}"));
            Ok(Update { old: id(old)?, new: id(new)?, refname: refname.to_owned() })
        })
        .collect()
}

/// What every decision of one push shares.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub repo: &'a Repo,
    /// The push's time: new layers must be valid now.
    pub now: SystemTime,
    /// Signing history for the policy's `inactivity` rule, when it has one.
    pub activity: Option<&'a Activity>,
}

impl Context<'_> {
    /// Verify the new value of a tag ref as a push: layers of the old value are known, the
    /// rest are new.
    fn verify_update(&self, name: &str, update: &Update) -> Verdict {
        let known = if update.old.is_null() { Vec::new() } else { known_layers(self.repo, name, update.old) };
        self.repo.verify(
            self.policy,
            Request::new(name, update.new, PUSH_ENVIRONMENT, self.now).at_push(&known).with_activity(self.activity),
        )
    }
}

/// Decide one update.
pub fn decide(cx: &Context<'_>, update: &Update) -> Decision {
    let (policy, repo) = (cx.policy, cx.repo);
    let Update { new, refname, .. } = update;
    let r = refname.as_str();
    if r.starts_with("refs/replace/") {
        return Decision::reject(r, "refs/replace/* is not allowed: replace refs change what tools see".to_owned());
    }
    if let Some(name) = r.strip_prefix("refs/tags/")
        && policy.protects(name)
    {
        return protected_tag(cx, name, update);
    }
    if let Some(name) = r.strip_prefix(PROPOSED) {
        return proposal(cx, name, update);
    }
    if let Some(short_name) = r.strip_prefix("refs/")
        && !r.starts_with("refs/tags/")
        && policy.protects(short_name)
    {
        return Decision::reject(
            r,
            format!(
                "{r} would shadow the protected tag refs/tags/{short_name} (git resolves {short_name} to {r} first)"
            ),
        );
    }
    if !new.is_null() {
        // No smuggling: a ref outside the protected namespace must not carry tag objects
        // that claim a protected name, at any depth (T14).
        match layer::claimed_names(&repo.repo.objects, repo.hash(), *new) {
            Ok(names) => {
                if let Some((_, name)) = names.iter().find(|(_, n)| policy.protects(n)) {
                    return Decision::reject(
                        r,
                        format!(
                            "points at a tag object named {name:?}, which is protected; push it as refs/tags/{name}"
                        ),
                    );
                }
            }
            Err(e) => return Decision::reject(r, e.to_string()),
        }
    }
    Decision::untouched(r)
}

/// The tag objects already accepted under a ref: the old value's chain.
fn known_layers(repo: &Repo, name: &str, old: ObjectId) -> Vec<ObjectId> {
    match layer::walk(&repo.repo.objects, repo.hash(), name, old) {
        Ok(chain) => chain.layers.iter().map(|l| l.id).collect(),
        Err((layers, _)) => {
            let mut ids: Vec<ObjectId> = layers.iter().map(|l| l.id).collect();
            ids.push(old);
            ids
        }
    }
}

fn protected_tag(cx: &Context<'_>, name: &str, update: &Update) -> Decision {
    let r = update.refname.as_str();
    if update.new.is_null() {
        return Decision::reject(r, format!("{name}: deleting a protected tag is not allowed"));
    }
    let verdict = cx.verify_update(name, update);
    let wraps_old = update.old.is_null() || verdict.chain.contains(&update.old);
    let mut reasons = verdict.problems.clone();
    if !wraps_old {
        reasons.insert(
            0,
            format!(
                "{name}: the new tag does not wrap the old one ({}); a protected tag only gains signatures: \
                 sign on top with `git tag -s -f -m … {name} {name}`",
                short(&update.old)
            ),
        );
    }
    let accepted = wraps_old && verdict.accepted;
    let message = match reasons.first() {
        Some(not_wrapping) if !wraps_old => not_wrapping.clone(),
        _ => verdict.summary(),
    };
    Decision { refname: r.to_owned(), accepted, message: Some(message), signers: verdict.signers(), reasons }
}

/// `refs/signed/proposed/<name>`: a tag object named `<name>` whose every layer is validly
/// signed by someone the policy knows; rules are not applied yet (it is half-signed).
fn proposal(cx: &Context<'_>, name: &str, update: &Update) -> Decision {
    let r = update.refname.as_str();
    if !cx.policy.protects(name) {
        return Decision::reject(
            r,
            format!("{name} is not a protected tag name; proposals are only for tags the policy protects"),
        );
    }
    if update.new.is_null() {
        return Decision { message: Some(format!("{name}: proposal removed")), ..Decision::untouched(r) };
    }
    let verdict = cx.verify_update(name, update);
    let reasons: Vec<String> = verdict.signature_problems().iter().map(|p| format!("proposal {name}: {p}")).collect();
    let signers = verdict.signers();
    let accepted = reasons.is_empty();
    let message =
        if accepted { format!("proposal {name} signed by {}", signers.join(", ")) } else { reasons.join("; ") };
    Decision { refname: r.to_owned(), accepted, message: Some(message), signers, reasons }
}
