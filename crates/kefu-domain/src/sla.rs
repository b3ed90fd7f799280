//! Service-level agreements (服务级别协议): which policy a work order falls
//! under, the due times its targets give on a business calendar, and where
//! each target stands (running, at risk, met, breached).
//!
//! Policies are ordered; the first whose conditions all hold applies. An
//! empty condition list matches anything. Targets are in working minutes
//! of the policy's calendar. The first-response clock runs from creation
//! to the first public reply; the next-response clock from a customer's
//! message that waits for an answer to the agent's next public reply; the
//! resolution clock from creation to resolution, stopped (when the policy
//! says so) while the ticket waits for the customer.

use crate::calendar::Calendar;
use chrono::{DateTime, Duration, Utc};

/// The conditions a policy applies under; each empty list matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// Ticket type codes (`complaint`, `fault`…).
    pub types: Vec<String>,
    /// Priorities (`p1`…`p4`).
    pub priorities: Vec<String>,
    /// Customer grades (`vip`, `a`…).
    pub grades: Vec<String>,
    /// Channels (`email`, `phone`…).
    pub channels: Vec<String>,
    /// Organization ids.
    pub organization_ids: Vec<i64>,
    /// Tags, any one of which the ticket must carry.
    pub tags: Vec<String>,
}

/// What a policy's conditions are checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFacts {
    /// Type code.
    pub ticket_type: String,
    /// Priority code.
    pub priority: String,
    /// The customer's grade code, if there is a customer.
    pub grade: Option<String>,
    /// Channel code.
    pub channel: String,
    /// Organization.
    pub organization_id: Option<i64>,
    /// Tags.
    pub tags: Vec<String>,
}

impl Conditions {
    /// Whether a ticket meets every condition.
    pub fn matches(&self, t: &TicketFacts) -> bool {
        let any = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        any(&self.types, &t.ticket_type)
            && any(&self.priorities, &t.priority)
            && (self.grades.is_empty()
                || t.grade
                    .as_deref()
                    .is_some_and(|g| self.grades.iter().any(|v| v == g)))
            && any(&self.channels, &t.channel)
            && (self.organization_ids.is_empty()
                || t.organization_id
                    .is_some_and(|o| self.organization_ids.contains(&o)))
            && (self.tags.is_empty() || t.tags.iter().any(|tag| self.tags.contains(tag)))
    }
}

/// The targets a policy sets, in working minutes; `None` sets none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Targets {
    /// Creation to the first public reply.
    pub first_response: Option<i64>,
    /// A waiting customer message to the next public reply.
    pub next_response: Option<i64>,
    /// Creation to resolution.
    pub resolution: Option<i64>,
    /// Creation to answering the customer with a result (complaints).
    pub result: Option<i64>,
    /// Whether the resolution clock stops while the ticket is pending
    /// (waiting for the customer).
    pub pause_when_pending: bool,
    /// When a running target counts as at risk and its assignee is warned.
    pub warning: Warning,
}

/// When a running target turns at risk: at a share of its time, or a set
/// time before it is due, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warning {
    /// The share of the wall time from start to due, in percent (1–100).
    pub percent: u8,
    /// Minutes of wall time before the due time, if set.
    pub before_minutes: Option<i64>,
}

impl Default for Warning {
    fn default() -> Self {
        Warning {
            percent: 75,
            before_minutes: None,
        }
    }
}

/// The index of the first policy, in order, whose conditions hold.
pub fn first_match<'a>(
    policies: impl IntoIterator<Item = &'a Conditions>,
    ticket: &TicketFacts,
) -> Option<usize> {
    policies.into_iter().position(|c| c.matches(ticket))
}

/// What the clocks of one ticket have seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clocks {
    /// When the ticket was created: the first-response and resolution
    /// clocks start here.
    pub created_at: DateTime<Utc>,
    /// The first public reply.
    pub first_response_at: Option<DateTime<Utc>>,
    /// The customer message now waiting for an answer.
    pub awaiting_reply_since: Option<DateTime<Utc>>,
    /// Resolution.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Working time the resolution clock has spent stopped, in seconds.
    pub paused_seconds: i64,
    /// When the current stop began, while the ticket is pending.
    pub paused_since: Option<DateTime<Utc>>,
    /// When the customer was answered with a result (结果答复).
    pub result_at: Option<DateTime<Utc>>,
}

/// The due times of a ticket's targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DueTimes {
    /// First response due.
    pub first_response: Option<DateTime<Utc>>,
    /// Next response due (while a customer message waits).
    pub next_response: Option<DateTime<Utc>>,
    /// Resolution due; none while the clock is stopped.
    pub resolution: Option<DateTime<Utc>>,
    /// Result answer due (complaints); its clock never stops.
    pub result: Option<DateTime<Utc>>,
}

/// The due times of a ticket's targets on a calendar. The resolution due
/// time moves later by the working time the clock spent stopped; while it
/// is stopped there is none.
pub fn due_times(calendar: &Calendar, targets: &Targets, clocks: &Clocks) -> DueTimes {
    let minutes = |m: i64| Duration::minutes(m);
    DueTimes {
        first_response: targets
            .first_response
            .and_then(|m| calendar.add(clocks.created_at, minutes(m))),
        next_response: match (targets.next_response, clocks.awaiting_reply_since) {
            (Some(m), Some(since)) => calendar.add(since, minutes(m)),
            _ => None,
        },
        resolution: match (targets.resolution, clocks.paused_since) {
            (Some(m), None) => calendar.add(
                clocks.created_at,
                minutes(m) + Duration::seconds(clocks.paused_seconds.max(0)),
            ),
            _ => None,
        },
        result: targets
            .result
            .and_then(|m| calendar.add(clocks.created_at, minutes(m))),
    }
}

/// The working seconds a stop of the resolution clock from `since` to
/// `until` adds. Working time after the resolution was already due does
/// not count: a target that was breached stays breached.
pub fn pause_seconds(
    calendar: &Calendar,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    due_when_paused: Option<DateTime<Utc>>,
) -> i64 {
    let end = match due_when_paused {
        Some(due) => until.min(due),
        None => until,
    };
    if end <= since {
        return 0;
    }
    calendar.between(since, end).num_seconds()
}

/// Where one target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetState {
    /// Running, with time to spare.
    Running,
    /// Running, past the warning share of its time.
    AtRisk,
    /// Running past its due time.
    Breached,
    /// Stopped in time.
    Met,
    /// Stopped after its due time.
    MissedThenMet,
    /// The clock is stopped (pending the customer).
    Paused,
}

impl TargetState {
    /// The code shown in the API and used for catalogue keys.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Running => "running",
            TargetState::AtRisk => "at_risk",
            TargetState::Breached => "breached",
            TargetState::Met => "met",
            TargetState::MissedThenMet => "missed",
            TargetState::Paused => "paused",
        }
    }

    /// Whether the target was or is broken.
    pub fn is_breach(self) -> bool {
        matches!(self, TargetState::Breached | TargetState::MissedThenMet)
    }
}

/// Where a target stands at `now`: started at `started`, due at `due`,
/// stopped at `stopped` (if it has been). A target starts to be at risk
/// at the ticket's [`Warning`].
pub fn target_state(
    started: DateTime<Utc>,
    due: DateTime<Utc>,
    stopped: Option<DateTime<Utc>>,
    warning: Warning,
    now: DateTime<Utc>,
) -> TargetState {
    if let Some(stopped) = stopped {
        return if stopped <= due {
            TargetState::Met
        } else {
            TargetState::MissedThenMet
        };
    }
    if now > due {
        return TargetState::Breached;
    }
    if now >= warn_at(started, due, warning) {
        TargetState::AtRisk
    } else {
        TargetState::Running
    }
}

/// When a target started at `started` and due at `due` turns at risk:
/// once the warning's share of the wall time between them has passed, or
/// its minutes before the due time are reached, whichever is sooner (never
/// before the start).
pub fn warn_at(started: DateTime<Utc>, due: DateTime<Utc>, warning: Warning) -> DateTime<Utc> {
    let span = (due - started).num_seconds().max(0);
    let by_share = started + Duration::seconds(span * i64::from(warning.percent.min(100)) / 100);
    match warning.before_minutes {
        Some(minutes) => by_share.min((due - Duration::minutes(minutes)).max(started)),
        None => by_share,
    }
}

/// The soonest due time among the targets still running, with the
/// instant it turns at risk — what queues sort by and "at risk now" finds.
/// A ticket no longer open (`running` false) has none.
pub fn next_due(
    targets: &Targets,
    clocks: &Clocks,
    due: &DueTimes,
    running: bool,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if !running {
        return None;
    }
    let candidates = [
        (
            clocks.first_response_at.is_none(),
            Some(clocks.created_at),
            due.first_response,
        ),
        (true, clocks.awaiting_reply_since, due.next_response),
        (
            clocks.resolved_at.is_none(),
            Some(clocks.created_at),
            due.resolution,
        ),
        (
            clocks.resolved_at.is_none() && clocks.result_at.is_none(),
            Some(clocks.created_at),
            due.result,
        ),
    ];
    candidates
        .into_iter()
        .filter_map(|(open, started, due)| match (open, started, due) {
            (true, Some(started), Some(due)) => Some((started, due)),
            _ => None,
        })
        .min_by_key(|(_, due)| *due)
        .map(|(started, due)| (warn_at(started, due, targets.warning), due))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::parse_hours;
    use chrono::TimeZone;

    fn office() -> Calendar {
        let day = parse_hours("h", "09:00-18:00").unwrap_or_default();
        let week = [
            day.clone(),
            day.clone(),
            day.clone(),
            day.clone(),
            day,
            Vec::new(),
            Vec::new(),
        ];
        Calendar::new(chrono_tz::UTC, week, &[])
    }

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        // September 2026: the 21st is a Monday.
        Utc.with_ymd_and_hms(2026, 9, day, hour, minute, 0)
            .single()
            .unwrap_or_default()
    }

    fn ticket() -> TicketFacts {
        TicketFacts {
            ticket_type: "complaint".into(),
            priority: "p2".into(),
            grade: Some("vip".into()),
            channel: "phone".into(),
            organization_id: Some(7),
            tags: vec!["宽带".into()],
        }
    }

    #[test]
    fn the_first_policy_whose_conditions_all_hold_applies() {
        let vip_complaints = Conditions {
            types: vec!["complaint".into()],
            grades: vec!["vip".into()],
            ..Conditions::default()
        };
        let email_only = Conditions {
            channels: vec!["email".into()],
            ..Conditions::default()
        };
        let everything = Conditions::default();
        let t = ticket();
        assert_eq!(
            first_match([&email_only, &vip_complaints, &everything], &t),
            Some(1)
        );
        assert_eq!(first_match([&email_only], &t), None);
        let mut no_customer = t.clone();
        no_customer.grade = None;
        assert!(
            !vip_complaints.matches(&no_customer),
            "a grade condition needs a customer"
        );
        let tagged = Conditions {
            tags: vec!["光猫".into(), "宽带".into()],
            organization_ids: vec![7],
            ..Conditions::default()
        };
        assert!(tagged.matches(&t));
        let mut other_org = t;
        other_org.organization_id = Some(8);
        assert!(!tagged.matches(&other_org));
    }

    #[test]
    fn due_times_count_working_minutes_and_stops() {
        let c = office();
        let targets = Targets {
            first_response: Some(60),
            next_response: Some(120),
            resolution: Some(16 * 60),
            result: None,
            pause_when_pending: true,
            warning: Warning::default(),
        };
        // Created Friday 17:30.
        let mut clocks = Clocks {
            created_at: at(25, 17, 30),
            first_response_at: None,
            awaiting_reply_since: None,
            resolved_at: None,
            paused_seconds: 0,
            paused_since: None,
            result_at: None,
        };
        let due = due_times(&c, &targets, &clocks);
        assert_eq!(due.first_response, Some(at(28, 9, 30)));
        assert_eq!(due.next_response, None);
        assert_eq!(due.resolution, Some(at(29, 15, 30)));
        // Pending from Monday 10:00 to Monday 15:00: five working hours.
        clocks.paused_since = Some(at(28, 10, 0));
        assert_eq!(due_times(&c, &targets, &clocks).resolution, None);
        clocks.paused_seconds += pause_seconds(&c, at(28, 10, 0), at(28, 15, 0), due.resolution);
        clocks.paused_since = None;
        assert_eq!(
            due_times(&c, &targets, &clocks).resolution,
            Some(at(30, 11, 30))
        );
        // A customer writes Tuesday 17:00: the next reply is due Wednesday 10:00.
        clocks.awaiting_reply_since = Some(at(29, 17, 0));
        assert_eq!(
            due_times(&c, &targets, &clocks).next_response,
            Some(at(30, 10, 0))
        );
    }

    #[test]
    fn a_stop_after_the_due_time_does_not_undo_a_breach() {
        let c = office();
        // Due Monday 12:00, paused Monday 11:00 to 14:00: only one hour counts.
        assert_eq!(
            pause_seconds(&c, at(21, 11, 0), at(21, 14, 0), Some(at(21, 12, 0))),
            3600
        );
        assert_eq!(
            pause_seconds(&c, at(21, 13, 0), at(21, 14, 0), Some(at(21, 12, 0))),
            0
        );
    }

    #[test]
    fn the_next_due_time_is_the_soonest_target_still_running() {
        let c = office();
        let targets = Targets {
            first_response: Some(60),
            next_response: Some(30),
            resolution: Some(8 * 60),
            result: None,
            pause_when_pending: true,
            warning: Warning {
                percent: 50,
                before_minutes: None,
            },
        };
        let mut clocks = Clocks {
            created_at: at(21, 9, 0),
            first_response_at: None,
            awaiting_reply_since: None,
            resolved_at: None,
            paused_seconds: 0,
            paused_since: None,
            result_at: None,
        };
        let due = due_times(&c, &targets, &clocks);
        assert_eq!(
            next_due(&targets, &clocks, &due, true),
            Some((at(21, 9, 30), at(21, 10, 0)))
        );
        clocks.first_response_at = Some(at(21, 9, 10));
        let due = due_times(&c, &targets, &clocks);
        assert_eq!(
            next_due(&targets, &clocks, &due, true),
            Some((at(21, 13, 0), at(21, 17, 0)))
        );
        clocks.awaiting_reply_since = Some(at(21, 11, 0));
        let due = due_times(&c, &targets, &clocks);
        assert_eq!(
            next_due(&targets, &clocks, &due, true),
            Some((at(21, 11, 15), at(21, 11, 30)))
        );
        assert_eq!(next_due(&targets, &clocks, &due, false), None);
    }

    #[test]
    fn targets_are_running_at_risk_breached_met_or_missed() {
        let start = at(21, 9, 0);
        let due = at(21, 13, 0);
        assert_eq!(
            target_state(start, due, None, Warning::default(), at(21, 10, 0)),
            TargetState::Running
        );
        assert_eq!(
            target_state(start, due, None, Warning::default(), at(21, 12, 0)),
            TargetState::AtRisk
        );
        assert_eq!(
            target_state(start, due, None, Warning::default(), at(21, 13, 1)),
            TargetState::Breached
        );
        assert_eq!(
            target_state(
                start,
                due,
                Some(at(21, 12, 59)),
                Warning::default(),
                at(22, 0, 0)
            ),
            TargetState::Met
        );
        let missed = target_state(
            start,
            due,
            Some(at(21, 13, 1)),
            Warning::default(),
            at(22, 0, 0),
        );
        assert_eq!(missed, TargetState::MissedThenMet);
        assert!(missed.is_breach());
    }
}
