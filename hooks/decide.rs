//! The verdict for one ref update, following the table in design.md §5. What a ref name means
//! is the core's `refs::classify`, and whether a tag verifies its `verify_tag`; this module only
//! knows which question to ask and how to say the answer to the pusher.

use std::time::SystemTime;

use git_signed_policy::refs::Carried;
use git_signed_policy::verdict::{Request, Verdict};
use git_signed_policy::{Activity, PUSH_ENVIRONMENT, Policy, Problem, RefClass, Repo, refs};
use gix::ObjectId;

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
    /// The core's verdict, for a protected tag or a proposal: the hook keeps its signature
    /// facts once the whole push is accepted.
    #[serde(skip)]
    pub verdict: Option<Verdict>,
}

impl Decision {
    fn untouched(refname: &str) -> Decision {
        Decision {
            refname: refname.to_owned(),
            accepted: true,
            message: None,
            signers: Vec::new(),
            reasons: Vec::new(),
            verdict: None,
        }
    }

    fn reject(refname: &str, reason: String) -> Decision {
        Decision {
            refname: refname.to_owned(),
            accepted: false,
            message: Some(reason.clone()),
            signers: Vec::new(),
            reasons: vec![reason],
            verdict: None,
        }
    }
}

/// A line of git's pre-receive input that is not `<old> <new> <ref>`.
#[derive(Debug, thiserror::Error)]
pub enum BadUpdate {
    #[error("malformed ref update line {0:?}")]
    Line(String),
    #[error("bad object id {hex:?}: {source}")]
    Id { hex: String, source: gix::Error },
}

/// Parse git's pre-receive input; any malformed line fails the whole push.
pub fn parse_updates(input: &str) -> Result<Vec<Update>, BadUpdate> {
    input
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let (Some(old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(BadUpdate::Line(line.to_owned()));
            };
            let id = |hex: &str| {
                ObjectId::from_hex(hex.as_bytes()).map_err(|source| BadUpdate::Id { hex: hex.to_owned(), source })
            };
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
    /// The core's verdict on the new value of a tag ref, judged as a push.
    fn verify(&self, name: &str, update: &Update, proposal: bool) -> Verdict {
        let request = Request::new(name, update.new, PUSH_ENVIRONMENT, self.now)
            .at_push(Some(update.old))
            .with_activity(self.activity);
        self.repo.verify(self.policy, if proposal { request.proposal() } else { request })
    }
}

/// Decide one update: the core says what the ref name is, then judges what it points at.
pub fn decide(cx: &Context<'_>, update: &Update) -> Decision {
    let r = update.refname.as_str();
    match refs::classify(cx.policy, r) {
        RefClass::ProtectedTag(name) => protected_tag(cx, name, update),
        RefClass::Proposal(name) => proposal(cx, name, update),
        // Deleting a forbidden ref is how an admin cleans up after one.
        RefClass::Forbidden(_) if update.new.is_null() => Decision::untouched(r),
        RefClass::Forbidden(why) => Decision::reject(r, why.describe()),
        RefClass::Other if update.new.is_null() => Decision::untouched(r),
        RefClass::Other => match refs::smuggled(cx.policy, &cx.repo.repo.objects, cx.repo.hash(), update.new) {
            Ok(Carried::Harmless(_)) => Decision::untouched(r),
            Ok(Carried::Protected(name)) => Decision::reject(
                r,
                format!("points at a tag object named {name:?}, which is protected; push it as refs/tags/{name}"),
            ),
            Err(e) => Decision::reject(r, e.to_string()),
        },
    }
}

fn protected_tag(cx: &Context<'_>, name: &str, update: &Update) -> Decision {
    let r = update.refname.as_str();
    if update.new.is_null() {
        return Decision::reject(r, format!("{name}: deleting a protected tag is not allowed"));
    }
    let verdict = cx.verify(name, update, false);
    let reasons: Vec<String> = verdict.problems().iter().map(ToString::to_string).collect();
    let mut message = match verdict.problems().first() {
        Some(first @ Problem::DoesNotWrap { .. }) => format!("{name}: {first}"),
        _ => verdict.summary(),
    };
    if verdict.lacks_people() {
        message.push_str(&format!(
            "; two people sign a deploy tag: `git signed propose {name}`, then another person runs \
             `git signed approve {name}` (delete the local tag first: git tag -d {name})"
        ));
    }
    Decision {
        refname: r.to_owned(),
        accepted: verdict.accepted(),
        message: Some(message),
        signers: verdict.signers(),
        reasons,
        verdict: Some(verdict),
    }
}

/// `refs/signed/proposed/<name>`: a tag object named `<name>` whose every layer is validly
/// signed by someone the policy knows; rules are not applied yet (it is half-signed).
fn proposal(cx: &Context<'_>, name: &str, update: &Update) -> Decision {
    let r = update.refname.as_str();
    if update.new.is_null() {
        return Decision { message: Some(format!("{name}: proposal removed")), ..Decision::untouched(r) };
    }
    let verdict = cx.verify(name, update, true);
    let reasons: Vec<String> = verdict.problems().iter().map(|p| format!("proposal {name}: {p}")).collect();
    let signers = verdict.signers();
    let message = if verdict.accepted() {
        format!("proposal {name} signed by {}", signers.join(", "))
    } else {
        reasons.join("; ")
    };
    let accepted = verdict.accepted();
    let verdict = Some(verdict);
    Decision { refname: r.to_owned(), accepted, message: Some(message), signers, reasons, verdict }
}
