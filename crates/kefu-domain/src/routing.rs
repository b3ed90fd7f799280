//! Routing (派单): which agent of a team takes a ticket.
//!
//! A team routes by one strategy: manual (nobody is chosen), round robin
//! (the next agent after the last one chosen), least loaded (the fewest
//! open tickets), or skills (the agents whose skills cover most of what the
//! ticket needs, then the least loaded of them). Only agents who are online
//! and below their capacity (most open tickets) take work; when none is,
//! the ticket waits for one.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

code_enum!(
    /// How a team hands out its tickets.
    Strategy, "strategy", {
        /// Agents pick tickets themselves, or a lead assigns them.
        Manual => "manual",
        /// In turn, after the agent chosen last.
        RoundRobin => "round_robin",
        /// To the agent with the fewest open tickets.
        LeastLoaded => "least_loaded",
        /// To the agents with the skills the ticket needs, least loaded first.
        Skills => "skills",
    }
);

/// An agent who might take a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Agent id.
    pub agent_id: i64,
    /// Online (taking work).
    pub online: bool,
    /// Open tickets assigned now.
    pub open: i64,
    /// Most open tickets, if limited.
    pub capacity: Option<i64>,
    /// Skill codes (`language:en`, `channel:phone`, `product:宽带` …).
    pub skills: Vec<String>,
}

impl Candidate {
    /// Whether the agent takes another ticket now.
    pub fn available(&self) -> bool {
        self.online && self.capacity.is_none_or(|c| self.open < c)
    }
}

/// The agent to give a ticket needing `needs` (skill codes), or `None`
/// when the strategy is manual or nobody is available. `last` is the agent
/// the team chose last (for round robin).
pub fn choose(
    strategy: Strategy,
    candidates: &[Candidate],
    needs: &[String],
    last: Option<i64>,
) -> Option<i64> {
    let mut available: Vec<&Candidate> = candidates.iter().filter(|c| c.available()).collect();
    available.sort_by_key(|c| c.agent_id);
    available.dedup_by_key(|c| c.agent_id);
    let least_loaded = |pool: &[&Candidate]| {
        pool.iter()
            .min_by_key(|c| (c.open, c.agent_id))
            .map(|c| c.agent_id)
    };
    match strategy {
        Strategy::Manual => None,
        Strategy::RoundRobin => {
            let after = last.unwrap_or(i64::MIN);
            available
                .iter()
                .find(|c| c.agent_id > after)
                .or_else(|| available.first())
                .map(|c| c.agent_id)
        }
        Strategy::LeastLoaded => least_loaded(&available),
        Strategy::Skills => {
            let matched = |c: &Candidate| needs.iter().filter(|n| c.skills.contains(n)).count();
            let best = available.iter().map(|c| matched(c)).max()?;
            let pool: Vec<&Candidate> = available
                .into_iter()
                .filter(|c| matched(c) == best)
                .collect();
            least_loaded(&pool)
        }
    }
}

/// A skill list as typed (commas, spaces or full-width commas between
/// codes), trimmed, lower-cased, deduplicated, in order.
pub fn parse_skills(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for code in text.split([',', '，', ' ', '\n']) {
        let code = code.trim().to_lowercase();
        if !code.is_empty() && !out.contains(&code) {
            out.push(code);
        }
    }
    out
}

/// What a ticket needs of its agent: its customer's language, its channel
/// and its product (category name), as skill codes.
pub fn needs(language: Option<&str>, channel: &str, product: Option<&str>) -> Vec<String> {
    let mut out = Vec::with_capacity(3);
    if let Some(language) = language.filter(|l| !l.is_empty()) {
        out.push(format!("language:{}", language.to_lowercase()));
    }
    out.push(format!("channel:{channel}"));
    if let Some(product) = product.filter(|p| !p.is_empty()) {
        out.push(format!("product:{}", product.to_lowercase()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop_assert, proptest};
    use proptest::strategy::Strategy as Generator;

    fn agent(agent_id: i64, open: i64, capacity: Option<i64>, skills: &[&str]) -> Candidate {
        Candidate {
            agent_id,
            online: true,
            open,
            capacity,
            skills: skills.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn round_robin_takes_turns_and_skips_the_unavailable() {
        let mut team = vec![
            agent(3, 0, None, &[]),
            agent(5, 9, Some(9), &[]),
            agent(8, 0, None, &[]),
        ];
        assert_eq!(choose(Strategy::RoundRobin, &team, &[], None), Some(3));
        assert_eq!(
            choose(Strategy::RoundRobin, &team, &[], Some(3)),
            Some(8),
            "5 is full"
        );
        assert_eq!(
            choose(Strategy::RoundRobin, &team, &[], Some(8)),
            Some(3),
            "wraps"
        );
        team[0].online = false;
        assert_eq!(choose(Strategy::RoundRobin, &team, &[], Some(8)), Some(8));
        team[2].online = false;
        assert_eq!(choose(Strategy::RoundRobin, &team, &[], Some(8)), None);
        assert_eq!(
            choose(Strategy::Manual, &[agent(1, 0, None, &[])], &[], None),
            None
        );
    }

    #[test]
    fn least_loaded_and_skills() {
        let team = vec![
            agent(1, 4, None, &["language:zh-cn"]),
            agent(2, 1, None, &["language:zh-cn"]),
            agent(3, 6, Some(10), &["language:en", "channel:email"]),
            agent(4, 5, None, &["language:en"]),
        ];
        assert_eq!(choose(Strategy::LeastLoaded, &team, &[], None), Some(2));
        let english = needs(Some("en"), "email", None);
        assert_eq!(english, ["language:en", "channel:email"]);
        assert_eq!(
            choose(Strategy::Skills, &team, &english, None),
            Some(3),
            "covers both"
        );
        let english_phone = needs(Some("en"), "phone", None);
        assert_eq!(
            choose(Strategy::Skills, &team, &english_phone, None),
            Some(4),
            "equal cover, fewer open"
        );
        let nobody = needs(Some("ja"), "chat", Some("IPTV"));
        assert_eq!(nobody[2], "product:iptv");
        assert_eq!(
            choose(Strategy::Skills, &team, &nobody, None),
            Some(2),
            "no one covers: least loaded"
        );
        assert_eq!(
            parse_skills("Language:EN, channel:phone，language:en"),
            ["language:en", "channel:phone"]
        );
    }

    fn candidates() -> impl Generator<Value = Vec<Candidate>> {
        proptest::collection::vec(
            (
                1i64..20,
                any::<bool>(),
                0i64..12,
                proptest::option::of(0i64..12),
                proptest::collection::vec(0usize..4, 0..3),
            ),
            0..8,
        )
        .prop_map(|rows| {
            let codes = [
                "language:en",
                "language:zh-cn",
                "channel:phone",
                "product:宽带",
            ];
            rows.into_iter()
                .map(|(agent_id, online, open, capacity, skills)| Candidate {
                    agent_id,
                    online,
                    open,
                    capacity,
                    skills: skills.into_iter().map(|i| codes[i].to_owned()).collect(),
                })
                .collect()
        })
    }

    proptest! {
        /// Whatever the team, a chosen agent is one of it, online and
        /// below capacity; and someone is chosen whenever someone is
        /// available (but for manual routing).
        #[test]
        fn only_available_agents_are_chosen(team in candidates(), last in proptest::option::of(0i64..20), need in 0usize..3) {
            let needs = needs(Some(["en", "zh-CN", "ja"][need]), "phone", None);
            for strategy in [Strategy::RoundRobin, Strategy::LeastLoaded, Strategy::Skills, Strategy::Manual] {
                let chosen = choose(strategy, &team, &needs, last);
                let anyone = team.iter().any(Candidate::available);
                match chosen {
                    Some(id) => prop_assert!(team.iter().any(|c| c.agent_id == id && c.available())),
                    None => prop_assert!(strategy == Strategy::Manual || !anyone),
                }
            }
        }

        /// Round robin over a steady team gives everyone a turn before anyone
        /// gets a second.
        #[test]
        fn round_robin_is_fair(ids in proptest::collection::btree_set(1i64..50, 1..8), start in 0i64..50) {
            let team: Vec<Candidate> = ids.iter().map(|id| agent(*id, 0, None, &[])).collect();
            let mut last = Some(start);
            let mut seen = Vec::new();
            for _ in 0..team.len() {
                let next = choose(Strategy::RoundRobin, &team, &[], last);
                prop_assert!(next.is_some());
                prop_assert!(!seen.contains(&next));
                seen.push(next);
                last = next;
            }
        }
    }
}
