//! The work order's rules (工单): its kinds and channels, priority from
//! urgency and impact, and the lifecycle every ticket follows from contact
//! to closure.

use crate::DomainError;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

code_enum!(
    /// What the customer came for (工单类型).
    TicketType, "type", {
        /// 咨询: a question.
        Inquiry => "inquiry",
        /// 投诉: a complaint.
        Complaint => "complaint",
        /// 故障: something is broken (technical).
        Fault => "fault",
        /// 业务办理: open, change or cancel a service.
        ServiceRequest => "service_request",
        /// 建议: a suggestion.
        Suggestion => "suggestion",
        /// Anything else.
        Other => "other",
    }
);

code_enum!(
    /// What a service request (业务办理) asks for.
    ServiceKind, "service kind", {
        /// 开通: start a service.
        Activate => "activate",
        /// 变更: change a service.
        Change => "change",
        /// 取消: stop a service.
        Cancel => "cancel",
    }
);

code_enum!(
    /// Where the request came in (渠道).
    Channel, "channel", {
        /// The web form on the company's site.
        WebForm => "web_form",
        /// The customer portal.
        Portal => "portal",
        /// Email.
        Email => "email",
        /// A phone call.
        Phone => "phone",
        /// Live chat.
        Chat => "chat",
        /// Text message.
        Sms => "sms",
        /// Social media (WeChat, Weibo…).
        Social => "social",
        /// 营业厅: a walk-in at a service counter.
        Counter => "counter",
        /// An integration through the API.
        Api => "api",
    }
);

code_enum!(
    /// Urgency (how soon) or impact (how many, how badly): the two axes of
    /// the priority matrix.
    Level, "level", {
        /// High.
        High => "high",
        /// Medium.
        Medium => "medium",
        /// Low.
        Low => "low",
    }
);

code_enum!(
    /// Priority P1 (most urgent) to P4.
    Priority, "priority", {
        /// Critical.
        P1 => "p1",
        /// High.
        P2 => "p2",
        /// Normal.
        P3 => "p3",
        /// Low.
        P4 => "p4",
    }
);

impl Priority {
    /// One level more urgent (an escalation step); P1 stays P1.
    pub fn raised(self) -> Priority {
        match self {
            Priority::P4 => Priority::P3,
            Priority::P3 => Priority::P2,
            Priority::P2 | Priority::P1 => Priority::P1,
        }
    }
}

code_enum!(
    /// Where a ticket stands in its lifecycle (状态).
    Status, "status", {
        /// Just arrived; nobody has worked on it.
        New => "new",
        /// Being worked on.
        Open => "open",
        /// Waiting for the customer (待客户回复).
        Pending => "pending",
        /// Waiting for a third party or another team (挂起).
        OnHold => "on_hold",
        /// A resolution was given; the customer may still reopen it.
        Resolved => "resolved",
        /// Finished.
        Closed => "closed",
        /// Folded into another ticket.
        Merged => "merged",
        /// Not a real request.
        Spam => "spam",
    }
);

code_enum!(
    /// How a ticket ended (解决方式).
    ResolutionCategory, "resolution category", {
        /// The problem was fixed or the request done.
        Solved => "solved",
        /// A workaround was given.
        Workaround => "workaround",
        /// The question was answered.
        Answered => "answered",
        /// The problem could not be reproduced.
        NotReproducible => "not_reproducible",
        /// Another ticket covers it.
        Duplicate => "duplicate",
        /// The customer withdrew the request.
        Withdrawn => "withdrawn",
        /// It will not be done, with the reason given to the customer.
        Declined => "declined",
    }
);

code_enum!(
    /// Who can see a message on a ticket.
    MessageKind, "message kind", {
        /// A public reply the customer sees.
        Reply => "reply",
        /// An internal note for agents only.
        Note => "note",
    }
);

code_enum!(
    /// Whether a logged call came in or went out.
    Direction, "direction", {
        /// The customer called or came in.
        Inbound => "inbound",
        /// An agent called the customer.
        Outbound => "outbound",
    }
);

impl Status {
    /// Statuses of tickets still being worked on (the queues' default).
    pub const ACTIVE: [Status; 4] = [Status::New, Status::Open, Status::Pending, Status::OnHold];

    /// Whether the ticket is still being worked on.
    pub fn is_active(self) -> bool {
        Status::ACTIVE.contains(&self)
    }

    /// The statuses an agent may move a ticket to from this one, leaving
    /// aside the reopen window and the resolution (see [`check_transition`]).
    pub fn next(self) -> &'static [Status] {
        use Status::*;
        match self {
            New => &[Open, Pending, OnHold, Resolved, Closed, Spam],
            Open => &[Pending, OnHold, Resolved, Closed, Spam],
            Pending => &[Open, OnHold, Resolved, Closed],
            OnHold => &[Open, Pending, Resolved, Closed],
            Resolved => &[Open, Closed],
            Closed => &[Open],
            Spam => &[Open],
            Merged => &[],
        }
    }
}

/// The 3×3 table from urgency and impact to priority, configurable by an
/// administrator. Rows are urgency high, medium, low; columns impact high,
/// medium, low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriorityMatrix(pub [[Priority; 3]; 3]);

impl Default for PriorityMatrix {
    /// The usual ITIL table.
    fn default() -> Self {
        use Priority::*;
        PriorityMatrix([[P1, P2, P3], [P2, P3, P4], [P3, P4, P4]])
    }
}

fn level_index(level: Level) -> usize {
    match level {
        Level::High => 0,
        Level::Medium => 1,
        Level::Low => 2,
    }
}

impl PriorityMatrix {
    /// The priority of a ticket with this urgency and impact.
    pub fn priority(&self, urgency: Level, impact: Level) -> Priority {
        self.0[level_index(urgency)][level_index(impact)]
    }

    /// The nine cells row by row, as stored (`p1,p2,p3,p2,…`).
    pub fn to_codes(&self) -> String {
        self.0
            .iter()
            .flatten()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads nine comma-separated priority codes, row by row.
    pub fn from_codes(field: &str, text: &str) -> Result<PriorityMatrix, DomainError> {
        let cells = text
            .split(',')
            .map(|c| Priority::parse_field(field, c))
            .collect::<Result<Vec<_>, _>>()?;
        let [a, b, c, d, e, f, g, h, i] = cells[..] else {
            return Err(DomainError::invalid(
                field,
                "must hold nine priorities: urgency high, medium, low × impact high, medium, low",
            ));
        };
        PriorityMatrix::checked([[a, b, c], [d, e, f], [g, h, i]], field)
    }

    /// Accepts a table where more urgency or more impact never lowers the
    /// priority; anything else would rank a smaller problem above a bigger.
    pub fn checked(cells: [[Priority; 3]; 3], field: &str) -> Result<PriorityMatrix, DomainError> {
        for row in 0..3 {
            for col in 0..3 {
                let here = cells[row][col];
                let worse_urgency = row > 0 && cells[row - 1][col] > here;
                let worse_impact = col > 0 && cells[row][col - 1] > here;
                if worse_urgency || worse_impact {
                    return Err(DomainError::invalid(
                        field,
                        "higher urgency or impact must never give a lower priority",
                    ));
                }
            }
        }
        Ok(PriorityMatrix(cells))
    }
}

/// How long a resolved or closed ticket may be reopened, in days.
pub const DEFAULT_REOPEN_DAYS: i64 = 7;

/// What the lifecycle needs to know about a ticket besides its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionFacts {
    /// The ticket's status now.
    pub from: Status,
    /// When it was last resolved (or closed without resolving first).
    pub resolved_at: Option<DateTime<Utc>>,
    /// The reopen window.
    pub reopen_days: i64,
    /// Whether a resolution (category and text) is stored or supplied.
    pub has_resolution: bool,
    /// Whether the request says why (required to reopen or mark spam).
    pub has_reason: bool,
    /// Now.
    pub now: DateTime<Utc>,
}

/// Checks a status change against the lifecycle: only the moves in
/// [`Status::next`], a resolution to resolve or close, a reason to reopen or
/// mark as spam, and reopening only within the window. The error names the
/// field the caller must fix and lists what is allowed.
pub fn check_transition(facts: &TransitionFacts, to: Status) -> Result<(), DomainError> {
    let from = facts.from;
    if from == to {
        return Err(DomainError::invalid(
            "status",
            format!("the ticket is already {from}"),
        ));
    }
    if !from.next().contains(&to) {
        let allowed: Vec<&str> = from.next().iter().map(|s| s.as_str()).collect();
        let allowed = if allowed.is_empty() {
            "none".to_owned()
        } else {
            allowed.join(", ")
        };
        return Err(DomainError::invalid(
            "status",
            format!("cannot go from {from} to {to}; allowed from {from}: {allowed}"),
        ));
    }
    if matches!(to, Status::Resolved | Status::Closed) && !facts.has_resolution {
        return Err(DomainError::invalid(
            "resolution",
            "a resolution (category and text) is required to resolve or close a ticket",
        ));
    }
    let reopening = to == Status::Open && matches!(from, Status::Resolved | Status::Closed);
    if (reopening || to == Status::Spam) && !facts.has_reason {
        return Err(DomainError::invalid(
            "reason",
            "say why: a reason is required to reopen a ticket or mark it as spam",
        ));
    }
    if reopening {
        let since = facts.resolved_at.unwrap_or(facts.now);
        if facts.now - since > TimeDelta::days(facts.reopen_days) {
            return Err(DomainError::invalid(
                "status",
                format!(
                    "the reopen window of {} days has passed; open a new ticket that refers to this one",
                    facts.reopen_days
                ),
            ));
        }
    }
    Ok(())
}

/// The reason recorded when a customer's reply reopens a resolved ticket.
pub const CUSTOMER_REOPEN_REASON: &str = "reopened: the customer replied";

/// What a customer's message does to a ticket: an answer to a ticket
/// pending the customer goes back to the agents (open); a reply to a
/// resolved ticket within the reopen window reopens it; a reply to a
/// closed or merged ticket, or to a resolved one after the window, is
/// refused on `body` — the customer sends a new request that refers to it.
/// Any other status stays as it is.
pub fn status_after_customer_reply(
    from: Status,
    resolved_at: Option<DateTime<Utc>>,
    reopen_days: i64,
    now: DateTime<Utc>,
) -> Result<Status, DomainError> {
    match from {
        Status::Pending => Ok(Status::Open),
        Status::Resolved => {
            let facts = TransitionFacts {
                from,
                resolved_at,
                reopen_days,
                has_resolution: true,
                has_reason: true,
                now,
            };
            check_transition(&facts, Status::Open).map_err(|_| {
                DomainError::invalid(
                    "body",
                    format!(
                        "this request was resolved more than {reopen_days} days ago; send a new request that refers to it"
                    ),
                )
            })?;
            Ok(Status::Open)
        }
        Status::Closed | Status::Merged => Err(DomainError::invalid(
            "body",
            "this request is closed; send a new request instead",
        )),
        other => Ok(other),
    }
}

/// The most a subject may hold, in characters.
pub const SUBJECT_MAX: usize = 200;
/// The most a description or message may hold, in characters.
pub const BODY_MAX: usize = 20_000;

/// Placeholders a canned reply may use, replaced from `values`
/// (`{customer.name}`, `{ticket.number}`…); unknown placeholders stay as
/// written so the agent sees them before sending.
pub fn fill_placeholders(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The human-friendly number customers and agents quote (`#1024`).
pub fn display_number(id: i64) -> String {
    format!("#{id}")
}

/// Reads a ticket number as people write it: `#1024`, `1024`, `＃1024`.
pub fn parse_number(text: &str) -> Option<i64> {
    let t = text.trim();
    let t = t
        .strip_prefix('#')
        .or_else(|| t.strip_prefix('＃'))
        .unwrap_or(t);
    t.parse::<i64>().ok().filter(|n| *n > 0)
}

/// The agents a message mentions: `@` followed by an agent's display name
/// or sign-in email. The longest name wins, so `@Daniel Wong` is not
/// taken for an agent called `Daniel`; each agent once, in order of first
/// mention.
pub fn mentions(text: &str, agents: &[(i64, &str, &str)]) -> Vec<i64> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices('@') {
        // An @ inside a word (an email address in the text) is not a mention.
        if text[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            continue;
        }
        let rest = &text[at + 1..];
        let best = agents
            .iter()
            .flat_map(|(id, name, email)| [(*id, *name), (*id, *email)])
            .filter(|(_, name)| !name.is_empty())
            .filter(|(_, name)| {
                rest.get(..name.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(name))
                    && !rest[name.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric())
            })
            .max_by_key(|(_, name)| name.len());
        if let Some((id, _)) = best
            && !found.contains(&id)
        {
            found.push(id);
        }
    }
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts(from: Status) -> TransitionFacts {
        TransitionFacts {
            from,
            resolved_at: None,
            reopen_days: 7,
            has_resolution: true,
            has_reason: true,
            now: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn default_matrix_follows_itil() {
        let m = PriorityMatrix::default();
        assert_eq!(m.priority(Level::High, Level::High), Priority::P1);
        assert_eq!(m.priority(Level::Medium, Level::Medium), Priority::P3);
        assert_eq!(m.priority(Level::Low, Level::Low), Priority::P4);
        assert_eq!(m.priority(Level::High, Level::Low), Priority::P3);
        assert_eq!(PriorityMatrix::from_codes("m", &m.to_codes()).ok(), Some(m));
    }

    #[test]
    fn matrix_refuses_inversions_and_wrong_sizes() {
        assert!(PriorityMatrix::from_codes("m", "p1,p2,p3").is_err());
        assert!(PriorityMatrix::from_codes("m", "p4,p1,p1,p1,p1,p1,p1,p1,p1").is_err());
        assert!(PriorityMatrix::from_codes("m", "p1,p1,p1,p1,p1,p1,p1,p1,p9").is_err());
        assert!(PriorityMatrix::from_codes("m", "p1,p1,p1,p1,p1,p1,p1,p1,p1").is_ok());
    }

    #[test]
    fn illegal_moves_are_refused_with_the_allowed_ones() {
        let err = check_transition(&facts(Status::New), Status::Merged).unwrap_err();
        let DomainError::Validation { field, reason } = err;
        assert_eq!(field, "status");
        assert!(reason.contains("allowed from new: open"), "{reason}");
        assert!(check_transition(&facts(Status::Merged), Status::Open).is_err());
        assert!(check_transition(&facts(Status::Open), Status::Open).is_err());
    }

    #[test]
    fn resolving_needs_a_resolution_and_reopening_a_reason() {
        let mut f = facts(Status::Open);
        f.has_resolution = false;
        let err = check_transition(&f, Status::Closed).unwrap_err();
        assert!(matches!(err, DomainError::Validation { ref field, .. } if field == "resolution"));
        let mut f = facts(Status::Resolved);
        f.has_reason = false;
        let err = check_transition(&f, Status::Open).unwrap_err();
        assert!(matches!(err, DomainError::Validation { ref field, .. } if field == "reason"));
    }

    #[test]
    fn a_customer_reply_reopens_within_the_window_and_is_refused_after_it() {
        let now = Utc::now();
        let resolved = Some(now - TimeDelta::days(3));
        assert_eq!(
            status_after_customer_reply(Status::Pending, None, 7, now),
            Ok(Status::Open)
        );
        assert_eq!(
            status_after_customer_reply(Status::Resolved, resolved, 7, now),
            Ok(Status::Open)
        );
        let late = status_after_customer_reply(Status::Resolved, resolved, 2, now);
        assert!(
            matches!(&late, Err(DomainError::Validation { field, .. }) if field == "body"),
            "{late:?}"
        );
        for shut in [Status::Closed, Status::Merged] {
            let refused = status_after_customer_reply(shut, resolved, 7, now);
            assert!(
                matches!(&refused, Err(DomainError::Validation { field, .. }) if field == "body"),
                "{refused:?}"
            );
        }
        for stays in [Status::New, Status::Open, Status::OnHold, Status::Spam] {
            assert_eq!(status_after_customer_reply(stays, None, 7, now), Ok(stays));
        }
    }

    #[test]
    fn reopen_window_is_inclusive_and_then_shut() {
        let mut f = facts(Status::Closed);
        f.resolved_at = Some(f.now - TimeDelta::days(7));
        assert!(check_transition(&f, Status::Open).is_ok());
        f.resolved_at = Some(f.now - TimeDelta::days(7) - TimeDelta::seconds(1));
        assert!(check_transition(&f, Status::Open).is_err());
    }

    #[test]
    fn numbers_read_as_written() {
        assert_eq!(parse_number("#1024"), Some(1024));
        assert_eq!(parse_number(" ＃7 "), Some(7));
        assert_eq!(parse_number("1024"), Some(1024));
        assert_eq!(parse_number("#0"), None);
        assert_eq!(parse_number("abc"), None);
        assert_eq!(display_number(1024), "#1024");
    }

    #[test]
    fn placeholders_fill_known_names_only() {
        let out = fill_placeholders(
            "您好 {customer.name}，工单 {ticket.number} 已受理 {unknown}",
            &[("customer.name", "张伟"), ("ticket.number", "#12")],
        );
        assert_eq!(out, "您好 张伟，工单 #12 已受理 {unknown}");
    }

    #[test]
    fn mentions_find_names_and_emails_longest_first() {
        let agents = [
            (1, "王芳", "agent@xinghe.example"),
            (2, "Daniel", "daniel@xinghe.example"),
            (3, "Daniel Wong", "daniel.wong@xinghe.example"),
        ];
        assert_eq!(
            mentions("请@王芳 跟进，@Daniel Wong 知悉", &agents),
            vec![1, 3]
        );
        assert_eq!(mentions("@daniel please look", &agents), vec![2]);
        assert_eq!(mentions("cc @agent@xinghe.example @王芳", &agents), vec![1]);
        assert_eq!(
            mentions("mail me at someone@Daniel.com", &agents),
            Vec::<i64>::new()
        );
        assert_eq!(mentions("@Danielle hi", &agents), Vec::<i64>::new());
    }

    fn any_status() -> impl Strategy<Value = Status> {
        proptest::sample::select(Status::ALL.to_vec())
    }

    fn any_level() -> impl Strategy<Value = Level> {
        proptest::sample::select(Level::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn every_accepted_move_is_in_the_table(from in any_status(), to in any_status()) {
            if check_transition(&facts(from), to).is_ok() {
                prop_assert!(from.next().contains(&to));
                prop_assert_ne!(from, Status::Merged);
            }
        }

        #[test]
        fn every_status_but_merged_can_reach_closed(start in any_status()) {
            // Breadth-first over the moves: no ticket gets stuck half-way.
            let mut seen = vec![start];
            let mut i = 0;
            while i < seen.len() {
                for next in seen[i].next() {
                    if !seen.contains(next) {
                        seen.push(*next);
                    }
                }
                i += 1;
            }
            prop_assert_eq!(seen.contains(&Status::Closed), start != Status::Merged);
        }

        #[test]
        fn more_urgency_or_impact_never_lowers_priority(u in any_level(), i in any_level()) {
            let m = PriorityMatrix::default();
            let p = m.priority(u, i);
            prop_assert!(m.priority(Level::High, i) <= p);
            prop_assert!(m.priority(u, Level::High) <= p);
        }

        #[test]
        fn window_never_admits_a_reopen_after_it(days in 0i64..60, late in 1i64..1_000_000) {
            let mut f = facts(Status::Resolved);
            f.reopen_days = days;
            f.resolved_at = Some(f.now - TimeDelta::days(days) - TimeDelta::seconds(late));
            prop_assert!(check_transition(&f, Status::Open).is_err());
        }
    }
}
