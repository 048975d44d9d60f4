//! The verdict for one ref update, following the table in design.md §5. What a ref name means
//! is the core's `refs::classify`, and whether a tag verifies its `verify_tag`; this module only
//! knows which question to ask and how to say the answer to the pusher.

use std::time::SystemTime;

use git_signed_policy::chain;
use git_signed_policy::push_cert::{self, CertProblem, Pusher};
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
    /// A protected tag or the policy history: what `signed.notify` is told of once accepted.
    pub protected: bool,
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
            protected: false,
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
            protected: false,
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
    /// `signed.root`: the first trusted commit of `refs/signed/policy`, when the policy is
    /// kept in the repository.
    pub root: Option<ObjectId>,
    /// What the push's certificate (`git push --signed`) proves, when it carries one.
    pub pushed: Option<&'a Result<Pusher, CertProblem>>,
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
        RefClass::ProtectedTag(name) => Decision { protected: true, ..protected_tag(cx, name, update) },
        RefClass::Proposal(name) => proposal(cx, name, update),
        RefClass::PolicyHistory { proposed } => {
            Decision { protected: !proposed, ..policy_history(cx, update, proposed) }
        }
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
    let mut reasons: Vec<String> = verdict.problems().iter().map(ToString::to_string).collect();
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
    // Who pushed, for rules that ask: on top of the tag's own verdict.
    let unproven: Vec<String> =
        push_cert::refusals(cx.policy, name, cx.pushed).iter().map(|u| format!("{name}: {u}")).collect();
    if !unproven.is_empty() {
        message = match verdict.accepted() {
            true => unproven.join("; "),
            false => format!("{message}; {}", unproven.join("; ")),
        };
        reasons.extend(unproven.iter().cloned());
    }
    Decision {
        refname: r.to_owned(),
        accepted: verdict.accepted() && unproven.is_empty(),
        message: Some(message),
        signers: verdict.signers(),
        reasons,
        protected: true,
        verdict: Some(verdict),
    }
}

/// `refs/signed/policy` moves only forward, to a commit whose whole history from `signed.root`
/// is signed by the admins of the policy before each change (`chain::walk`), ending in an
/// approved change; `refs/signed/proposed/policy` may also end in a change still waiting for
/// approvals. The policy in force before the push judges every ref pushed with it.
fn policy_history(cx: &Context<'_>, update: &Update, proposed: bool) -> Decision {
    let r = update.refname.as_str();
    let Some(root) = cx.root else {
        return Decision::reject(
            r,
            "this mirror keeps its policy in a file (signed.policy) and pins no signed.root; \
             set it to the policy's first commit (install.sh --repo … --root <commit>) to keep the policy here"
                .to_owned(),
        );
    };
    if update.new.is_null() {
        return match proposed {
            true => Decision { message: Some("policy proposal removed".to_owned()), ..Decision::untouched(r) },
            false => {
                Decision::reject(r, "the policy history cannot be deleted; push a change signed by the admins".into())
            }
        };
    }
    let repo = &cx.repo.repo;
    let base = if update.old.is_null() {
        // A new proposal starts from the policy in force; the policy ref starts at the root.
        let current = if proposed { cx.repo.resolve(chain::POLICY_REF).ok().flatten() } else { None };
        current.unwrap_or(root)
    } else {
        update.old
    };
    if let Err(e) = chain::line_from(repo, base, update.new) {
        let why = match e {
            chain::ChainError::NotFromRoot { .. } => format!(
                "{} does not build on {} (a rewind or a rewritten history); the policy history only moves forward",
                short(&update.new),
                short(&base)
            ),
            other => other.to_string(),
        };
        return Decision::reject(r, why);
    }
    // What this push adds is judged now: signed now, by admins valid now (no back-dating).
    // Commits of the waiting proposal were judged so when they were pushed there: an approval
    // days later completes them.
    let proposal = if proposed { None } else { cx.repo.resolve(chain::PROPOSED_POLICY_REF).ok().flatten() };
    let judged_before = proposal
        .filter(|p| chain::line_from(repo, base, *p).is_ok() && chain::line_from(repo, *p, update.new).is_ok())
        .unwrap_or(base);
    match chain::walk_pushed(repo, root, update.new, judged_before, cx.now) {
        Ok(state) => {
            let signed = state.signed_by.join(", ");
            let message = if proposed {
                format!("policy proposal {} approved by {signed}; push it to {}", short(&update.new), chain::POLICY_REF)
            } else if state.signed_by.is_empty() {
                format!("policy {} (the pinned signed.root) in force from the next push", short(&state.commit))
            } else {
                format!("policy {} in force from the next push, signed by {signed}", short(&state.commit))
            };
            Decision { message: Some(message), signers: state.signed_by, ..Decision::untouched(r) }
        }
        Err(chain::ChainError::Unapproved { commit, have, needed }) if proposed => Decision {
            message: Some(format!(
                "policy proposal {} signed by {} of {needed} admins ({}); the others approve it with `git signed policy approve`",
                short(&commit),
                have.len(),
                have.join(", ")
            )),
            signers: have,
            ..Decision::untouched(r)
        },
        Err(e) => Decision::reject(r, e.to_string()),
    }
}

fn short(id: &ObjectId) -> String {
    git_signed_policy::verdict::short(id)
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
    Decision { refname: r.to_owned(), accepted, message: Some(message), signers, reasons, protected: false, verdict }
}
