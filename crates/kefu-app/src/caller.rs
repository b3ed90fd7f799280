//! Who is asking: the authenticated principal every use case receives.

use crate::AppError;
use kefu_domain::audit::{Actor, Source};
use kefu_domain::{Permission, Role};

/// An authenticated caller. Only [`crate::auth`] makes one from
/// credentials, so holding a `Caller` means someone proved who they are.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Written into the audit log as the author of changes.
    pub actor: Actor,
    /// The agent acted for (the token's agent for API tokens).
    pub agent_id: Option<i64>,
    /// The role whose permissions apply.
    pub role: Role,
    /// Where the request came in.
    pub source: Source,
}

impl Caller {
    /// Kefu itself acting (demo loader, command line, background rules),
    /// with every permission.
    pub fn system(name: &str) -> Caller {
        Caller {
            actor: Actor::System(name.to_owned()),
            agent_id: None,
            role: Role::Admin,
            source: Source::System,
        }
    }

    /// Passes when the caller's role grants `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}
