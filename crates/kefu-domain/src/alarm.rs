//! SLA alarms: the warning before a target is due and the escalation chain
//! after it breaches.
//!
//! A ticket keeps, beside its due times, what has already fired for them:
//! the due time it was warned about, the due time whose breach was
//! escalated, and how many steps of the chain ran since. From those and the
//! clock, [`fire`] says what fires now and [`next_alarm`] when to look
//! again; a background sweep stores that instant on the ticket, so timers
//! survive restarts and are found by an index. Firing is idempotent: a
//! second look at the same instant finds nothing new.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Most steps an escalation chain may have.
pub const MAX_STEPS: usize = 10;

/// Longest delay of a step after the breach: 30 days, in minutes.
pub const MAX_STEP_MINUTES: i64 = 30 * 24 * 60;

/// What one escalation step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalationAction {
    /// Notify the lead of the ticket's team.
    NotifyTeamLead,
    /// Notify every active manager.
    NotifyManagers,
    /// Raise the priority one level (P4 → P3 …; P1 stays).
    RaisePriority,
    /// Move the ticket to the step's team (the assignee stays only if a
    /// member of it).
    MoveToTeam,
}

impl EscalationAction {
    /// Every action, in the order forms offer them.
    pub const ALL: [EscalationAction; 4] = [
        EscalationAction::NotifyTeamLead,
        EscalationAction::NotifyManagers,
        EscalationAction::RaisePriority,
        EscalationAction::MoveToTeam,
    ];

    /// The stored and catalogue code.
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationAction::NotifyTeamLead => "notify_team_lead",
            EscalationAction::NotifyManagers => "notify_managers",
            EscalationAction::RaisePriority => "raise_priority",
            EscalationAction::MoveToTeam => "move_to_team",
        }
    }

    /// The action with code `code`.
    pub fn parse(code: &str) -> Option<EscalationAction> {
        Self::ALL.into_iter().find(|a| a.as_str() == code)
    }
}

/// One step of a chain: `after_minutes` of wall time past the breach, do
/// `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    /// Minutes after the breach (0: at once).
    pub after_minutes: i64,
    /// What to do.
    pub action: EscalationAction,
    /// The team to move to (`move_to_team` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<i64>,
}

/// A chain that cannot be kept, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainError {
    /// `escalation[i].after_minutes` and the like.
    pub field: String,
    /// Why.
    pub message: String,
}

/// Checks a chain's shape (team existence is the caller's business) and
/// answers it in firing order: by delay, steps with equal delays in the
/// order given.
pub fn checked_chain(steps: &[EscalationStep]) -> Result<Vec<EscalationStep>, ChainError> {
    if steps.len() > MAX_STEPS {
        return Err(ChainError {
            field: "escalation".into(),
            message: format!("at most {MAX_STEPS} steps"),
        });
    }
    for (i, step) in steps.iter().enumerate() {
        if !(0..=MAX_STEP_MINUTES).contains(&step.after_minutes) {
            return Err(ChainError {
                field: format!("escalation[{i}].after_minutes"),
                message: format!("must be between 0 and {MAX_STEP_MINUTES}"),
            });
        }
        match (step.action, step.team_id) {
            (EscalationAction::MoveToTeam, None) => {
                return Err(ChainError {
                    field: format!("escalation[{i}].team_id"),
                    message: "choose the team to move the ticket to".into(),
                });
            }
            (EscalationAction::MoveToTeam, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(ChainError {
                    field: format!("escalation[{i}].team_id"),
                    message: "only a move to a team names a team".into(),
                });
            }
        }
    }
    let mut ordered = steps.to_vec();
    ordered.sort_by_key(|s| s.after_minutes);
    Ok(ordered)
}

/// Where a ticket's alarms stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Alarm {
    /// When the soonest running target turns at risk.
    pub warn_at: Option<DateTime<Utc>>,
    /// The soonest running target's due time.
    pub due_at: Option<DateTime<Utc>>,
    /// The due time the assignee was last warned about.
    pub warned_for: Option<DateTime<Utc>>,
    /// The due time whose breach was last escalated.
    pub breached_for: Option<DateTime<Utc>>,
    /// Steps of the chain run since that breach.
    pub steps_done: u32,
}

/// Something that fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firing {
    /// The running target turned at risk: warn the assignee.
    Warning,
    /// The running target breached.
    Breach,
    /// Run step `n` (an index into the chain).
    Step(usize),
}

/// What fires at `now` for a ticket whose chain has steps delayed by
/// `delays` minutes (in firing order), and the alarm with its markers
/// moved past them. A warning whose target already breached is skipped:
/// the breach says more.
pub fn fire(alarm: &Alarm, delays: &[i64], now: DateTime<Utc>) -> (Vec<Firing>, Alarm) {
    let mut out = Vec::new();
    let mut next = *alarm;
    let Some(due) = alarm.due_at else {
        return (out, next);
    };
    if now >= due {
        if alarm.breached_for != Some(due) {
            out.push(Firing::Breach);
            next.breached_for = Some(due);
            next.steps_done = 0;
        }
        // Not warned once breached: the breach says more.
        next.warned_for = Some(due);
        let done = usize::try_from(next.steps_done).unwrap_or(usize::MAX);
        for (index, delay) in delays.iter().enumerate().skip(done) {
            if now >= due + Duration::minutes(*delay) {
                out.push(Firing::Step(index));
                next.steps_done += 1;
            } else {
                break;
            }
        }
    } else if let Some(warn) = alarm.warn_at
        && now >= warn
        && alarm.warned_for != Some(due)
    {
        out.push(Firing::Warning);
        next.warned_for = Some(due);
    }
    (out, next)
}

/// When something will next fire for this alarm, if ever.
pub fn next_alarm(alarm: &Alarm, delays: &[i64]) -> Option<DateTime<Utc>> {
    let due = alarm.due_at?;
    if alarm.breached_for != Some(due) {
        return Some(match alarm.warn_at {
            Some(warn) if alarm.warned_for != Some(due) => warn.min(due),
            _ => due,
        });
    }
    let done = usize::try_from(alarm.steps_done).ok()?;
    delays
        .get(done)
        .map(|delay| due + Duration::minutes(*delay))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0)
            .single()
            .unwrap_or_default()
            + Duration::minutes(minute)
    }

    fn alarm(warn: i64, due: i64) -> Alarm {
        Alarm {
            warn_at: Some(at(warn)),
            due_at: Some(at(due)),
            ..Alarm::default()
        }
    }

    #[test]
    fn warns_once_then_breaches_then_walks_the_chain() {
        let delays = [0, 30, 60];
        let a = alarm(45, 60);
        assert_eq!(next_alarm(&a, &delays), Some(at(45)));
        let (early, same) = fire(&a, &delays, at(44));
        assert!(early.is_empty());
        assert_eq!(same, a);

        let (warned, a) = fire(&a, &delays, at(45));
        assert_eq!(warned, vec![Firing::Warning]);
        assert_eq!(fire(&a, &delays, at(50)).0, vec![]);
        assert_eq!(next_alarm(&a, &delays), Some(at(60)));

        let (breach, a) = fire(&a, &delays, at(60));
        assert_eq!(breach, vec![Firing::Breach, Firing::Step(0)]);
        assert_eq!(next_alarm(&a, &delays), Some(at(90)));
        assert!(fire(&a, &delays, at(89)).0.is_empty());

        let (late, a) = fire(&a, &delays, at(200));
        assert_eq!(late, vec![Firing::Step(1), Firing::Step(2)]);
        assert_eq!(next_alarm(&a, &delays), None);
        assert!(fire(&a, &delays, at(9000)).0.is_empty());
    }

    #[test]
    fn a_target_found_late_skips_its_warning() {
        let (fired, a) = fire(&alarm(45, 60), &[], at(61));
        assert_eq!(fired, vec![Firing::Breach]);
        assert_eq!(next_alarm(&a, &[]), None);
    }

    #[test]
    fn a_new_due_time_arms_the_alarm_again() {
        let (_, a) = fire(&alarm(45, 60), &[0], at(70));
        assert_eq!(next_alarm(&a, &[0]), None);
        // The first response came; the resolution target runs on.
        let moved = Alarm {
            warn_at: Some(at(300)),
            due_at: Some(at(400)),
            ..a
        };
        assert_eq!(next_alarm(&moved, &[0]), Some(at(300)));
        let (fired, moved) = fire(&moved, &[0], at(300));
        assert_eq!(fired, vec![Firing::Warning]);
        let (fired, _) = fire(&moved, &[0], at(400));
        assert_eq!(fired, vec![Firing::Breach, Firing::Step(0)]);
    }

    #[test]
    fn nothing_runs_without_a_due_time() {
        let a = Alarm::default();
        assert_eq!(next_alarm(&a, &[0]), None);
        assert!(fire(&a, &[0], at(0)).0.is_empty());
    }

    #[test]
    fn chains_are_checked_and_ordered() {
        let step = |after_minutes, action, team_id| EscalationStep {
            after_minutes,
            action,
            team_id,
        };
        let ordered = checked_chain(&[
            step(60, EscalationAction::RaisePriority, None),
            step(0, EscalationAction::NotifyTeamLead, None),
            step(60, EscalationAction::MoveToTeam, Some(3)),
        ]);
        let Ok(ordered) = ordered else {
            panic!("a good chain was refused");
        };
        let actions: Vec<_> = ordered.iter().map(|s| s.action).collect();
        assert_eq!(
            actions,
            [
                EscalationAction::NotifyTeamLead,
                EscalationAction::RaisePriority,
                EscalationAction::MoveToTeam
            ]
        );
        let missing_team = checked_chain(&[
            step(0, EscalationAction::NotifyManagers, None),
            step(5, EscalationAction::MoveToTeam, None),
        ]);
        assert_eq!(
            missing_team.map_err(|e| e.field),
            Err("escalation[1].team_id".to_owned())
        );
        let negative = checked_chain(&[step(-1, EscalationAction::NotifyManagers, None)]);
        assert_eq!(
            negative.map_err(|e| e.field),
            Err("escalation[0].after_minutes".to_owned())
        );
        let stray_team = checked_chain(&[step(0, EscalationAction::NotifyManagers, Some(1))]);
        assert!(stray_team.is_err());
        assert_eq!(
            EscalationAction::parse("raise_priority"),
            Some(EscalationAction::RaisePriority)
        );
        assert_eq!(EscalationAction::parse("x"), None);
    }

    proptest! {
        /// Whatever moments the sweep happens to look at, each firing
        /// happens exactly once, in order, never before its time, and the
        /// next alarm is never later than the next firing.
        #[test]
        fn looking_often_or_seldom_fires_the_same(
            warn in 0i64..100,
            extra in 0i64..100,
            mut delays in proptest::collection::vec(0i64..200, 0..5),
            mut looks in proptest::collection::vec(0i64..600, 1..20),
        ) {
            delays.sort_unstable();
            looks.sort_unstable();
            let due = warn + extra;
            let mut a = alarm(warn, due);
            let mut fired = Vec::new();
            for look in &looks {
                if let Some(next) = next_alarm(&a, &delays) {
                    let (now_fired, _) = fire(&a, &delays, at(*look));
                    prop_assert!(now_fired.is_empty() || at(*look) >= next);
                }
                let (now_fired, moved) = fire(&a, &delays, at(*look));
                fired.extend(now_fired);
                a = moved;
            }
            let last = at(*looks.last().unwrap_or(&0));
            let mut expected = Vec::new();
            if last >= at(due) {
                expected.push(Firing::Breach);
                for (i, d) in delays.iter().enumerate() {
                    if last >= at(due + d) {
                        expected.push(Firing::Step(i));
                    }
                }
            }
            let warned = fired.first() == Some(&Firing::Warning);
            let body: Vec<Firing> = fired.iter().copied().filter(|f| *f != Firing::Warning).collect();
            prop_assert_eq!(body, expected);
            prop_assert!(fired.iter().filter(|f| **f == Firing::Warning).count() <= 1);
            if warned {
                prop_assert!(looks.iter().any(|l| at(*l) >= at(warn) && at(*l) < at(due)));
            }
        }
    }
}
