//! Automation rules (触发器): when an event happens to a ticket and the
//! rule's conditions hold, its actions run.
//!
//! Rules are kept as JSON lists of conditions and actions; this module
//! checks them on save (an unknown field, operator or action, or a value
//! of the wrong type, is refused naming `conditions[2].value` and the
//! like) and evaluates conditions on a plain snapshot of the ticket.

use crate::DomainError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

code_enum!(
    /// What sets a rule off.
    Trigger, "event", {
        /// A ticket was created.
        TicketCreated => "ticket.created",
        /// A ticket's properties or status changed (not by a rule).
        TicketUpdated => "ticket.updated",
        /// The customer wrote on a ticket.
        CustomerReplied => "customer.replied",
        /// An SLA target turned at risk.
        SlaWarning => "sla.warning",
        /// An SLA target breached.
        SlaBreach => "sla.breach",
    }
);

code_enum!(
    /// A ticket property a condition reads.
    Field, "field", {
        /// Status code.
        Status => "status",
        /// Priority code.
        Priority => "priority",
        /// Type code.
        Type => "type",
        /// Channel code.
        Channel => "channel",
        /// Team id (empty: none).
        TeamId => "team_id",
        /// Assignee id (empty: none).
        AssigneeId => "assignee_id",
        /// Tags.
        Tags => "tags",
        /// The customer's grade.
        CustomerGrade => "customer.grade",
        /// Subject text.
        Subject => "subject",
        /// Whole hours since creation.
        HoursSinceCreated => "hours_since_created",
        /// Whole hours since the last change.
        HoursSinceUpdated => "hours_since_updated",
    }
);

code_enum!(
    /// How a condition compares.
    Operator, "op", {
        /// Equal (for tags: has the tag).
        Is => "is",
        /// Not equal (for tags: lacks the tag).
        IsNot => "is_not",
        /// One of a comma-separated list.
        In => "in",
        /// Text contains (case-insensitive).
        Contains => "contains",
        /// Number greater than.
        Greater => "greater_than",
        /// Number less than.
        Less => "less_than",
        /// Has a value.
        IsSet => "is_set",
        /// Has no value.
        IsNotSet => "is_not_set",
    }
);

/// One condition as stored: `field op value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The property.
    pub field: String,
    /// The comparison.
    pub op: String,
    /// What to compare with (a code, a list `a,b`, a number, a text).
    #[serde(default)]
    pub value: String,
}

code_enum!(
    /// What a rule does.
    ActionKind, "action", {
        /// Set the priority (value: p1–p4).
        SetPriority => "set_priority",
        /// Move to a team (value: team id).
        SetTeam => "set_team",
        /// Assign to an agent (value: agent id).
        Assign => "assign",
        /// Add tags (value: comma-separated).
        AddTags => "add_tags",
        /// Remove tags (value: comma-separated).
        RemoveTags => "remove_tags",
        /// Notify agents (value: assignee, team_lead, managers or an agent id).
        Notify => "notify",
        /// Email the customer (subject and body templates with placeholders).
        EmailCustomer => "email_customer",
        /// Post the ticket to a webhook (value: webhook id).
        CallWebhook => "call_webhook",
    }
);

/// One action as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleAction {
    /// What to do.
    pub action: String,
    /// Its argument.
    #[serde(default)]
    pub value: String,
    /// Email subject template (`email_customer`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Email body template (`email_customer`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
}

/// A ticket as conditions see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Status code.
    pub status: String,
    /// Priority code.
    pub priority: String,
    /// Type code.
    pub ticket_type: String,
    /// Channel code.
    pub channel: String,
    /// Team.
    pub team_id: Option<i64>,
    /// Assignee.
    pub assignee_id: Option<i64>,
    /// Tags.
    pub tags: Vec<String>,
    /// Customer grade code.
    pub grade: Option<String>,
    /// Subject.
    pub subject: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A rule that cannot be kept, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// `conditions[0].op` and the like.
    pub field: String,
    /// Why.
    pub message: String,
}

fn refuse(field: String, message: impl Into<String>) -> RuleError {
    RuleError {
        field,
        message: message.into(),
    }
}

/// Most conditions or actions in one rule.
pub const MAX_ITEMS: usize = 20;

/// Checks conditions on save: known fields and operators, operators that
/// suit the field, values of the right type (codes are checked by the
/// caller's `code_ok`, which knows the valid codes of each field).
pub fn check_conditions(
    conditions: &[Condition],
    code_ok: impl Fn(Field, &str) -> bool,
) -> Result<(), RuleError> {
    if conditions.len() > MAX_ITEMS {
        return Err(refuse(
            "conditions".into(),
            format!("at most {MAX_ITEMS} conditions"),
        ));
    }
    for (i, c) in conditions.iter().enumerate() {
        let field = Field::parse_field(&format!("conditions[{i}].field"), &c.field)
            .map_err(|e| refuse(format!("conditions[{i}].field"), e.to_string()))?;
        let op = Operator::parse_field(&format!("conditions[{i}].op"), &c.op)
            .map_err(|e| refuse(format!("conditions[{i}].op"), e.to_string()))?;
        let at = format!("conditions[{i}].value");
        let numeric = matches!(field, Field::HoursSinceCreated | Field::HoursSinceUpdated);
        let ids = matches!(field, Field::TeamId | Field::AssigneeId);
        let suits = match op {
            Operator::Greater | Operator::Less => numeric,
            Operator::Contains => matches!(field, Field::Subject),
            Operator::IsSet | Operator::IsNotSet => {
                matches!(
                    field,
                    Field::TeamId | Field::AssigneeId | Field::CustomerGrade | Field::Tags
                )
            }
            Operator::Is | Operator::IsNot | Operator::In => !numeric,
        };
        if !suits {
            return Err(refuse(
                format!("conditions[{i}].op"),
                format!("{} does not apply to {}", op.as_str(), field.as_str()),
            ));
        }
        let value = c.value.trim();
        match op {
            Operator::IsSet | Operator::IsNotSet => {}
            _ if value.is_empty() => return Err(refuse(at, "needs a value")),
            Operator::Greater | Operator::Less => {
                if value.parse::<i64>().map_or(true, |n| n < 0) {
                    return Err(refuse(
                        at,
                        format!("{value:?} is not a whole number of hours"),
                    ));
                }
            }
            _ if ids => {
                for part in value.split(',') {
                    if part.trim().parse::<i64>().is_err() {
                        return Err(refuse(at, format!("{:?} is not an id", part.trim())));
                    }
                }
            }
            _ if matches!(field, Field::Subject | Field::Tags) => {}
            _ => {
                for part in value.split(',') {
                    if !code_ok(field, part.trim()) {
                        return Err(refuse(
                            at,
                            format!("{:?} is not a valid {}", part.trim(), field.as_str()),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether one condition holds for a ticket at `now` (conditions are
/// checked on save; an unreadable one never holds).
pub fn holds(c: &Condition, t: &Snapshot, now: DateTime<Utc>) -> bool {
    let (Ok(field), Ok(op)) = (Field::from_str(&c.field), Operator::from_str(&c.op)) else {
        return false;
    };
    let value = c.value.trim();
    let list: Vec<&str> = value.split(',').map(str::trim).collect();
    let text: Option<String> = match field {
        Field::Status => Some(t.status.clone()),
        Field::Priority => Some(t.priority.clone()),
        Field::Type => Some(t.ticket_type.clone()),
        Field::Channel => Some(t.channel.clone()),
        Field::TeamId => t.team_id.map(|v| v.to_string()),
        Field::AssigneeId => t.assignee_id.map(|v| v.to_string()),
        Field::CustomerGrade => t.grade.clone(),
        Field::Subject => Some(t.subject.clone()),
        Field::HoursSinceCreated => Some((now - t.created_at).num_hours().to_string()),
        Field::HoursSinceUpdated => Some((now - t.updated_at).num_hours().to_string()),
        Field::Tags => None,
    };
    if field == Field::Tags {
        let has = |tag: &str| t.tags.iter().any(|x| x == tag);
        return match op {
            Operator::Is | Operator::In => list.iter().any(|v| has(v)),
            Operator::IsNot => !list.iter().any(|v| has(v)),
            Operator::IsSet => !t.tags.is_empty(),
            Operator::IsNotSet => t.tags.is_empty(),
            _ => false,
        };
    }
    match op {
        Operator::IsSet => text.is_some(),
        Operator::IsNotSet => text.is_none(),
        Operator::Is => text.as_deref() == Some(value),
        Operator::IsNot => text.as_deref() != Some(value),
        Operator::In => text.is_some_and(|x| list.contains(&x.as_str())),
        Operator::Contains => {
            text.is_some_and(|x| x.to_lowercase().contains(&value.to_lowercase()))
        }
        Operator::Greater | Operator::Less => {
            let (Some(have), Ok(want)) = (
                text.and_then(|x| x.parse::<i64>().ok()),
                value.parse::<i64>(),
            ) else {
                return false;
            };
            if op == Operator::Greater {
                have > want
            } else {
                have < want
            }
        }
    }
}

/// Whether every condition holds (no conditions: always).
pub fn all_hold(conditions: &[Condition], t: &Snapshot, now: DateTime<Utc>) -> bool {
    conditions.iter().all(|c| holds(c, t, now))
}

/// Checks actions on save: known kinds, values of the right type (the
/// caller checks that ids exist).
pub fn check_actions(actions: &[RuleAction]) -> Result<Vec<ActionKind>, RuleError> {
    if actions.is_empty() {
        return Err(refuse("actions".into(), "a rule needs at least one action"));
    }
    if actions.len() > MAX_ITEMS {
        return Err(refuse(
            "actions".into(),
            format!("at most {MAX_ITEMS} actions"),
        ));
    }
    let mut kinds = Vec::with_capacity(actions.len());
    for (i, a) in actions.iter().enumerate() {
        let kind = ActionKind::parse_field(&format!("actions[{i}].action"), &a.action)
            .map_err(|e| refuse(format!("actions[{i}].action"), e.to_string()))?;
        let at = format!("actions[{i}].value");
        let value = a.value.trim();
        match kind {
            ActionKind::SetPriority => {
                crate::ticket::Priority::parse_field(&at, value)
                    .map_err(|e| refuse(at.clone(), e.to_string()))?;
            }
            ActionKind::SetTeam | ActionKind::Assign | ActionKind::CallWebhook => {
                if value.parse::<i64>().is_err() {
                    return Err(refuse(at, format!("{value:?} is not an id")));
                }
            }
            ActionKind::AddTags | ActionKind::RemoveTags => {
                if value.is_empty() {
                    return Err(refuse(at, "name at least one tag"));
                }
            }
            ActionKind::Notify => {
                if !matches!(value, "assignee" | "team_lead" | "managers")
                    && value.parse::<i64>().is_err()
                {
                    return Err(refuse(at, "assignee, team_lead, managers or an agent id"));
                }
            }
            ActionKind::EmailCustomer => {
                if a.subject.trim().is_empty() {
                    return Err(refuse(format!("actions[{i}].subject"), "needs a subject"));
                }
                if a.body.trim().is_empty() {
                    return Err(refuse(format!("actions[{i}].body"), "needs a body"));
                }
            }
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ticket() -> Snapshot {
        let created = Utc
            .with_ymd_and_hms(2026, 12, 1, 8, 0, 0)
            .single()
            .unwrap_or_default();
        Snapshot {
            status: "open".into(),
            priority: "p2".into(),
            ticket_type: "complaint".into(),
            channel: "phone".into(),
            team_id: Some(3),
            assignee_id: None,
            tags: vec!["宽带".into(), "repeat".into()],
            grade: Some("vip".into()),
            subject: "Fiber keeps DROPPING 光猫掉线".into(),
            created_at: created,
            updated_at: created,
        }
    }

    fn cond(field: &str, op: &str, value: &str) -> Condition {
        Condition {
            field: field.into(),
            op: op.into(),
            value: value.into(),
        }
    }

    #[test]
    fn conditions_read_the_ticket() {
        let t = ticket();
        let now = t.created_at + chrono::Duration::minutes(190);
        for (c, expected) in [
            (cond("type", "is", "complaint"), true),
            (cond("type", "is_not", "complaint"), false),
            (cond("priority", "in", "p1, p2"), true),
            (cond("customer.grade", "is", "vip"), true),
            (cond("assignee_id", "is_not_set", ""), true),
            (cond("team_id", "is", "3"), true),
            (cond("tags", "is", "宽带"), true),
            (cond("tags", "is_not", "repeat"), false),
            (cond("subject", "contains", "dropping"), true),
            (cond("hours_since_created", "greater_than", "2"), true),
            (cond("hours_since_created", "less_than", "2"), false),
            (cond("nonsense", "is", "x"), false),
        ] {
            assert_eq!(holds(&c, &t, now), expected, "{c:?}");
        }
        assert!(all_hold(&[], &t, now));
    }

    #[test]
    fn bad_rules_name_the_field() {
        let codes = |f: Field, v: &str| match f {
            Field::Type => ["complaint", "inquiry"].contains(&v),
            _ => true,
        };
        let cases = [
            (vec![cond("colour", "is", "red")], "conditions[0].field"),
            (
                vec![
                    cond("type", "is", "complaint"),
                    cond("type", "resembles", "x"),
                ],
                "conditions[1].op",
            ),
            (vec![cond("type", "is", "grumble")], "conditions[0].value"),
            (
                vec![cond("hours_since_created", "greater_than", "soon")],
                "conditions[0].value",
            ),
            (
                vec![cond("subject", "greater_than", "3")],
                "conditions[0].op",
            ),
            (vec![cond("team_id", "is", "three")], "conditions[0].value"),
            (vec![cond("priority", "is", "")], "conditions[0].value"),
        ];
        for (conditions, field) in cases {
            assert_eq!(
                check_conditions(&conditions, codes).map_err(|e| e.field),
                Err(field.to_owned()),
                "{conditions:?}"
            );
        }
        let action = |action: &str, value: &str| RuleAction {
            action: action.into(),
            value: value.into(),
            subject: String::new(),
            body: String::new(),
        };
        assert_eq!(
            check_actions(&[]).map_err(|e| e.field),
            Err("actions".to_owned())
        );
        assert_eq!(
            check_actions(&[action("add_tags", "x"), action("set_priority", "p9")])
                .map_err(|e| e.field),
            Err("actions[1].value".to_owned())
        );
        assert_eq!(
            check_actions(&[action("launch", "x")]).map_err(|e| e.field),
            Err("actions[0].action".to_owned())
        );
        assert_eq!(
            check_actions(&[action("email_customer", "")]).map_err(|e| e.field),
            Err("actions[0].subject".to_owned())
        );
        assert!(check_actions(&[action("notify", "team_lead"), action("assign", "7")]).is_ok());
    }
}
