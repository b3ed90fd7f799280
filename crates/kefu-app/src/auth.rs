//! Proving who a caller is: passwords (argon2id) and API tokens.

use crate::{App, AppError, Caller};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use kefu_domain::audit::{self, Action, Actor, Source};
use kefu_domain::signin::ThrottlePolicy;
use kefu_domain::{Permission, Role, validate};
use kefu_store::{agents, audit as audit_log, throttle, tokens};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Prefix of every API token, so leaked tokens are easy to scan for.
pub const TOKEN_PREFIX: &str = "kefu_";

/// A token use is written back at most this often, so that API calls do
/// not each cost a durable write.
const LAST_USED_RESOLUTION_SECONDS: i64 = 60;

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    if password.chars().count() < 8 {
        return Err(AppError::invalid(
            "password",
            "must be at least 8 characters",
        ));
    }
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| AppError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::Internal(format!("password hashing: {e}")))
}

pub(crate) fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a password nobody has, checked when the account does not
/// exist so that the answer takes as long either way.
pub(crate) static DECOY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Signs in with email and password on the API (HTTP Basic). Agents who
/// switched on two-step sign-in cannot: they use API tokens instead.
pub async fn authenticate_password(
    app: &App,
    email: &str,
    password: &str,
    source: Source,
) -> Result<Caller, AppError> {
    let (caller, two_step) = check_password(app, email, password, source).await?;
    if two_step {
        return Err(AppError::Unauthenticated);
    }
    Ok(caller)
}

/// Checks an email and password; also says whether the agent needs a
/// second step.
/// Whether the account exists, is inactive, is locked out after repeated
/// failures, or the password is wrong, the answer is the same
/// `Unauthenticated`, after the same amount of work. Failures count per
/// email address, existing or not.
pub(crate) async fn check_password(
    app: &App,
    email: &str,
    password: &str,
    source: Source,
) -> Result<(Caller, bool), AppError> {
    let email = email.trim().to_lowercase();
    let throttle_key = token_hash(&format!("sign-in:{email}"));
    let policy = ThrottlePolicy::default();
    let (credentials, throttle) = {
        let mut reader = app.store.read().await?;
        let credentials = agents::credentials(&mut reader.conn(), &email).await?;
        let throttle = throttle::get(&mut reader.conn(), &throttle_key).await?;
        (credentials, throttle)
    };
    let locked = policy.is_locked(throttle.as_ref(), kefu_store::now());
    let (agent_id, phc) = match &credentials {
        Some(c) if c.active && !locked => (Some(c.id), c.password_hash.clone()),
        _ => (None, None),
    };
    let two_step = credentials.as_ref().is_some_and(|c| c.two_step);
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        let decoy = DECOY_HASH
            .get_or_init(|| hash_password("decoy password, never valid").unwrap_or_default());
        match phc {
            Some(phc) => verify_password(&phc, &password),
            None => {
                verify_password(decoy, &password);
                false
            }
        }
    })
    .await
    .map_err(|e| AppError::Internal(format!("password check: {e}")))?;
    let Some(agent_id) = agent_id.filter(|_| ok) else {
        if !locked {
            let mut tx = app.store.write().await?;
            // Re-read inside the write lock so concurrent failures all count.
            let current = throttle::get(&mut tx.conn(), &throttle_key).await?;
            let next = policy.record_failure(current, kefu_store::now());
            throttle::put(&mut tx.conn(), &throttle_key, &next).await?;
            tx.commit().await?;
        }
        return Err(AppError::Unauthenticated);
    };
    if throttle.is_some() {
        let mut tx = app.store.write().await?;
        throttle::clear(&mut tx.conn(), &throttle_key).await?;
        tx.commit().await?;
    }
    let agent = {
        let mut reader = app.store.read().await?;
        agents::get(&mut reader.conn(), agent_id).await?
    };
    let caller = Caller {
        actor: Actor::Agent(agent.id),
        agent_id: Some(agent.id),
        role: agent.role,
        source,
    };
    Ok((caller, two_step))
}

/// The SHA-256 of a token, hex: what the database keeps.
pub fn token_hash(token: &str) -> String {
    kefu_domain::hex(&Sha256::digest(token.as_bytes()))
}

/// Signs in with an API token (`Authorization: Bearer …`).
pub async fn authenticate_token(
    app: &App,
    token: &str,
    source: Source,
) -> Result<Caller, AppError> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(AppError::Unauthenticated);
    }
    let hash = token_hash(token);
    let found = {
        let mut reader = app.store.read().await?;
        tokens::find_for_sign_in(&mut reader.conn(), &hash).await?
    };
    let Some(found) = found else {
        return Err(AppError::Unauthenticated);
    };
    let record = found.token;
    let now = kefu_store::now();
    if record.revoked_at.is_some()
        || record.expires_at.is_some_and(|at| at <= now)
        || !found.agent_active
    {
        return Err(AppError::Unauthenticated);
    }
    let role: Role = record
        .role
        .parse()
        .map_err(|e| AppError::Internal(format!("token {}: {e}", record.id)))?;
    if record
        .last_used_at
        .is_none_or(|at| now - at > Duration::seconds(LAST_USED_RESOLUTION_SECONDS))
    {
        let mut tx = app.store.write().await?;
        tokens::touch(&mut tx.conn(), record.id, now).await?;
        tx.commit().await?;
    }
    Ok(Caller {
        actor: Actor::ApiToken(record.id),
        agent_id: Some(record.agent_id),
        role,
        source,
    })
}

/// What an admin fills in to issue a token.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenInput {
    /// What the token is for ("CRM sync").
    pub name: String,
    /// The agent the integration acts for; default: the caller.
    #[serde(default)]
    pub agent_id: Option<i64>,
    /// The role the token acts with; default: that agent's role.
    #[serde(default)]
    pub role: Option<String>,
    /// Days until it expires; default: never.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

/// A freshly issued token: the secret is shown this once and never stored.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct IssuedToken {
    /// The stored record.
    #[serde(flatten)]
    pub record: tokens::ApiToken,
    /// The bearer token to give the integration.
    pub token: String,
}

/// Issues an API token (admins only). The token is returned once.
pub async fn create_api_token(
    app: &App,
    caller: &Caller,
    input: NewTokenInput,
) -> Result<IssuedToken, AppError> {
    caller.require(Permission::ManageApiTokens)?;
    let name = validate::name("name", &input.name, 100)?;
    let agent_id = input.agent_id.or(caller.agent_id).ok_or_else(|| {
        AppError::invalid("agent_id", "is required when the caller is not an agent")
    })?;
    let expires_at: Option<DateTime<Utc>> = match input.expires_in_days {
        None => None,
        Some(days) if (1..=3650).contains(&days) => Some(kefu_store::now() + Duration::days(days)),
        Some(_) => {
            return Err(AppError::invalid(
                "expires_in_days",
                "must be between 1 and 3650",
            ));
        }
    };
    let mut tx = app.store.write().await?;
    let agent = match agents::get(&mut tx.conn(), agent_id).await {
        Err(kefu_store::StoreError::NotFound) => {
            return Err(AppError::invalid(
                "agent_id",
                format!("agent {agent_id} does not exist"),
            ));
        }
        other => other?,
    };
    let role = match input.role.as_deref() {
        None => agent.role,
        Some(text) => text.parse().map_err(|e: kefu_domain::role::UnknownRole| {
            AppError::invalid("role", e.to_string())
        })?,
    };
    let secret: [u8; 32] = rand::random();
    let token = format!("{TOKEN_PREFIX}{}", kefu_domain::hex(&secret));
    let creator = caller.agent_id.unwrap_or(agent.id);
    let record = tokens::insert(
        &mut tx.conn(),
        &tokens::NewApiToken {
            name,
            token_hash: token_hash(&token),
            role: role.as_str().to_owned(),
            agent_id: agent.id,
            created_by: creator,
            expires_at,
        },
    )
    .await?;
    let snapshot = serde_json::to_value(&record).map_err(|e| AppError::Internal(e.to_string()))?;
    audit_log::append(
        &mut tx.conn(),
        &audit_log::Entry {
            actor: &caller.actor,
            source: caller.source,
            entity: "api_token",
            entity_id: record.id,
            action: Action::Create,
            changes: audit::diff(
                &serde_json::Value::Null,
                &snapshot,
                &["created_at", "last_used_at"],
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(IssuedToken { record, token })
}

/// Every API token (admins only); secrets are never stored, so never listed.
pub async fn list_api_tokens(
    app: &App,
    caller: &Caller,
) -> Result<Vec<tokens::ApiToken>, AppError> {
    caller.require(Permission::ManageApiTokens)?;
    let mut reader = app.store.read().await?;
    Ok(tokens::list(&mut reader.conn()).await?)
}

/// Revokes a token (admins only); it stops working at once.
pub async fn revoke_api_token(
    app: &App,
    caller: &Caller,
    id: i64,
) -> Result<tokens::ApiToken, AppError> {
    caller.require(Permission::ManageApiTokens)?;
    let mut tx = app.store.write().await?;
    let before = tokens::get(&mut tx.conn(), id).await?;
    let after = tokens::revoke(&mut tx.conn(), id, kefu_store::now()).await?;
    if before.revoked_at != after.revoked_at {
        let old = serde_json::to_value(&before).map_err(|e| AppError::Internal(e.to_string()))?;
        let new = serde_json::to_value(&after).map_err(|e| AppError::Internal(e.to_string()))?;
        audit_log::append(
            &mut tx.conn(),
            &audit_log::Entry {
                actor: &caller.actor,
                source: caller.source,
                entity: "api_token",
                entity_id: id,
                action: Action::Update,
                changes: audit::diff(&old, &new, &["last_used_at"]),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_salts_differ() {
        let a = hash_password("correct horse").unwrap_or_default();
        let b = hash_password("correct horse").unwrap_or_default();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify_password(&a, "correct horse"));
        assert!(!verify_password(&a, "wrong horse!"));
        assert!(!verify_password("not a phc string", "correct horse"));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
