//! An agent's presence on the floor, which routing will read: only online
//! agents take new work.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Whether an agent is taking work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// At work and taking new contacts.
    Online,
    /// At work, not taking new contacts (break, meeting, training).
    Away,
    /// Not at work.
    Offline,
}

impl AgentStatus {
    /// Every status.
    pub const ALL: [AgentStatus; 3] =
        [AgentStatus::Online, AgentStatus::Away, AgentStatus::Offline];

    /// The stored code name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Away => "away",
            AgentStatus::Offline => "offline",
        }
    }
}

/// The text was not a status code name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}; valid statuses: online, away, offline")]
pub struct UnknownStatus(pub String);

impl FromStr for AgentStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgentStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for status in AgentStatus::ALL {
            assert_eq!(status.as_str().parse::<AgentStatus>(), Ok(status));
        }
        assert!("busy".parse::<AgentStatus>().is_err());
    }
}
