//! The signing history the policy's `inactivity` rule needs: when each person signed tags the
//! mirror accepts.
//!
//! Kept as *spans* per person: runs of signatures no two consecutive of which are more than
//! the limit apart. The rule only asks whether a person's previous accepted signature is
//! within the limit of a new one, and spans answer that exactly (and name the previous
//! signature when it is not) in a few numbers per person however many tags there are, so the
//! history can be stored beside a repository and grown one push at a time.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::duration::{from_unix_seconds as time, unix_seconds as seconds};

use super::Verdict;
use crate::policy::{Policy, Principal};

/// When each person signed tags the mirror accepts: the history the `inactivity` rule needs.
/// Always built from `push` verdicts, wherever it is built, so the hook, the helper and the CLI
/// agree on who was active.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Activity {
    limit: Duration,
    spans: BTreeMap<String, Vec<Span>>,
    until: Option<SystemTime>,
}

/// Signatures from `first` to `last`, none more than the limit after the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    first: SystemTime,
    last: SystemTime,
}

impl Activity {
    /// An empty history for the policy's limit (`inactivity`, or none: every signature its own
    /// span, as `audit` reads it).
    pub fn new(policy: &Policy) -> Activity {
        Activity { limit: policy.inactivity.unwrap_or_default(), spans: BTreeMap::new(), until: None }
    }

    /// Add the signatures of `verdict`, a `push` verdict, if it was accepted; and, accepted or
    /// not, when it can change by time alone (see [`Activity::holds_until`]).
    pub fn record(&mut self, verdict: &Verdict) {
        self.until = self.until.into_iter().chain(verdict.holds_until()).min();
        if !verdict.accepted() {
            return;
        }
        for l in verdict.layers.iter().filter(|l| l.valid()) {
            if let (Some(Principal::Person(name)), Some(t)) = (&l.signer, l.signed_at) {
                self.add(name, t);
            }
        }
    }

    /// Add one accepted signature of `person` at `t`.
    pub fn add(&mut self, person: &str, t: SystemTime) {
        let limit = self.limit;
        let spans = self.spans.entry(person.to_owned()).or_default();
        let at = spans.partition_point(|s| s.last < t);
        if spans.get(at).is_some_and(|s| s.first <= t) {
            return;
        }
        let near = |a: SystemTime, b: SystemTime| b.duration_since(a).is_ok_and(|gap| gap <= limit);
        let joins_before = at > 0 && near(spans[at - 1].last, t);
        let joins_after = spans.get(at).is_some_and(|s| near(t, s.first));
        match (joins_before, joins_after) {
            (true, true) => {
                spans[at - 1].last = spans[at].last;
                spans.remove(at);
            }
            (true, false) => spans[at - 1].last = t,
            (false, true) => spans[at].first = t,
            (false, false) => spans.insert(at, Span { first: t, last: t }),
        }
    }

    /// When some verdict the history was built from can change by time alone (a counted
    /// signature expires, one dated in the future comes due, an algorithm stops being
    /// accepted): from then on it must be built again.
    pub fn holds_until(&self) -> Option<SystemTime> {
        self.until
    }

    /// The limit the spans were built for.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The person's latest accepted signature.
    pub fn latest(&self, person: &str) -> Option<SystemTime> {
        self.spans.get(person).and_then(|s| s.last()).map(|s| s.last)
    }

    /// Whether a signature of `person` at `t` comes more than the limit after their previous
    /// accepted one: `None` when it does not, `Some(previous)` when it does (`Some(None)`:
    /// there was none).
    pub fn lapsed(&self, person: &str, t: SystemTime) -> Option<Option<SystemTime>> {
        let spans = self.spans.get(person).map_or(&[][..], Vec::as_slice);
        let at = spans.partition_point(|s| s.last < t);
        if spans.get(at).is_some_and(|s| s.first < t) {
            return None;
        }
        let previous = at.checked_sub(1).map(|i| spans[i].last);
        match previous {
            Some(p) if t.duration_since(p).is_ok_and(|gap| gap <= self.limit) => None,
            _ => Some(previous),
        }
    }

    /// The text form stored beside a repository: the limit, until when it holds, then one line
    /// per person, `<name> <first>-<last> …` in seconds.
    pub fn to_text(&self) -> String {
        let until = self.until.map_or("-".to_owned(), |t| seconds(t).to_string());
        let mut out = format!("limit {}\nuntil {until}\n", self.limit.as_secs());
        for (person, spans) in &self.spans {
            out.push_str(&escape(person));
            for s in spans {
                out.push_str(&format!(" {}-{}", seconds(s.first), seconds(s.last)));
            }
            out.push('\n');
        }
        out
    }

    /// Read [`Activity::to_text`]; `None` if anything in it does not parse or is out of order.
    pub fn from_text(text: &str) -> Option<Activity> {
        let mut lines = text.lines();
        let limit = Duration::from_secs(lines.next()?.strip_prefix("limit ")?.parse().ok()?);
        let until = match lines.next()?.strip_prefix("until ")? {
            "-" => None,
            t => Some(time(t)?),
        };
        let mut spans = BTreeMap::new();
        for line in lines {
            let mut fields = line.split(' ');
            let person = fields.next().filter(|p| !p.is_empty()).and_then(unescape)?;
            let mut list: Vec<Span> = Vec::new();
            for field in fields {
                let (first, last) = field.split_once('-')?;
                let span = Span { first: time(first)?, last: time(last)? };
                if span.first > span.last || list.last().is_some_and(|p| p.last >= span.first) {
                    return None;
                }
                list.push(span);
            }
            spans.insert(person, list);
        }
        Some(Activity { limit, spans, until })
    }
}

/// A person's name as one field: `%`, spaces and control characters as `%XX`.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c == '%' || c.is_whitespace() || c.is_control() {
            let mut buf = [0u8; 4];
            c.encode_utf8(&mut buf).bytes().for_each(|b| out.push_str(&format!("%{b:02X}")));
        } else {
            out.push(c);
        }
    }
    out
}

fn unescape(field: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(field.len());
    let mut rest = field.as_bytes();
    while let Some((&b, more)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(more.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &more[2..];
        } else {
            bytes.push(b);
            rest = more;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const DAY: u64 = 86_400;

    fn at(days: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(days * DAY)
    }

    /// The spans answer exactly what the full list of times would: the previous signature
    /// strictly before `t`, and whether it is within the limit.
    #[test]
    fn spans_answer_like_the_full_history() {
        let limit = Duration::from_secs(10 * DAY);
        let times = [100, 105, 130, 131, 150, 200, 210, 220, 221, 260];
        let mut a = Activity { limit, spans: BTreeMap::new(), until: Some(at(400)) };
        for &d in times.iter().rev().step_by(2).chain(times.iter().step_by(2)) {
            a.add("alice", at(d));
        }
        for t in 90..280 {
            let previous = times.iter().rev().find(|&&x| x < t).map(|&x| at(x));
            let expected = match previous {
                Some(p) if at(t).duration_since(p).is_ok_and(|g| g <= limit) => None,
                _ => Some(previous),
            };
            assert_eq!(a.lapsed("alice", at(t)), expected, "day {t}");
        }
        assert_eq!(a.latest("alice"), Some(at(260)));
        assert_eq!(a.lapsed("bob", at(100)), Some(None));
        a.add("ann marie\n%", at(3));
        assert_eq!(Activity::from_text(&a.to_text()), Some(a));
    }

    #[test]
    fn a_damaged_history_does_not_read() {
        for text in [
            "",
            "limit x\nuntil -\n",
            "limit 5\n",
            "limit 5\nuntil x\n",
            "limit 5\nuntil -\nalice 10-5\n",
            "limit 5\nuntil -\nalice 1-2 2-3\n",
            "limit 5\nuntil -\nalice 1\n",
        ] {
            assert_eq!(Activity::from_text(text), None, "{text:?}");
        }
    }
}
