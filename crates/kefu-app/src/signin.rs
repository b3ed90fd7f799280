//! Web sign-in: sessions, sign-out (here or everywhere), password change
//! and reset by an emailed one-time link.

use crate::auth::{check_password, hash_password, token_hash, verify_password};
use crate::{App, AppError, Caller};
use kefu_domain::audit::{Action, Actor, FieldChange, Source};
use kefu_domain::presence::AgentStatus;
use kefu_domain::signin::ThrottlePolicy;
use kefu_domain::signin::{self, RESET_TOKEN_LIFETIME, SESSION_MAX_AGE};
use kefu_store::agents::{self, Agent};
use kefu_store::sessions::{self, NewSession, Session};
use kefu_store::{Tx, audit as audit_log, resets, throttle, totp};
use serde_json::Value;

/// A fresh session: the cookie value (shown only now) and its record.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The cookie value.
    pub token: String,
    /// The stored session.
    pub session: Session,
    /// Who signed in.
    pub agent: Agent,
}

/// `bytes` random bytes as hex: tokens for links and sessions.
pub(crate) fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// What a correct password leads to.
#[derive(Debug, Clone)]
pub enum SignInOutcome {
    /// Signed in.
    Session(Box<SignedIn>),
    /// The agent uses two-step sign-in: the code from their authenticator
    /// app is still needed. The challenge token (shown only now) names this
    /// half-finished sign-in for five minutes.
    NeedsCode {
        /// The challenge token.
        challenge: String,
    },
}

/// How long the second step may take.
const CHALLENGE_LIFETIME: chrono::Duration = chrono::Duration::minutes(5);

/// Signs in with email and password; opens a session, or asks for the
/// authenticator code when the agent switched two-step sign-in on.
pub async fn sign_in(
    app: &App,
    email: &str,
    password: &str,
    user_agent: &str,
    ip: &str,
) -> Result<SignInOutcome, AppError> {
    let (caller, two_step) = check_password(app, email, password, Source::Web).await?;
    let agent_id = caller.agent_id.ok_or(AppError::Unauthenticated)?;
    if two_step {
        let challenge = random_hex(32);
        let mut tx = app.store.write().await?;
        totp::insert_challenge(
            &mut tx.conn(),
            &token_hash(&challenge),
            agent_id,
            kefu_store::now() + CHALLENGE_LIFETIME,
        )
        .await?;
        tx.commit().await?;
        return Ok(SignInOutcome::NeedsCode { challenge });
    }
    Ok(SignInOutcome::Session(Box::new(
        open_session(app, &caller, agent_id, user_agent, ip).await?,
    )))
}

/// Finishes a two-step sign-in with the authenticator code. A wrong code
/// leaves the challenge open for another try; repeated wrong codes lock the
/// account's second step like wrong passwords do.
pub async fn complete_sign_in(
    app: &App,
    challenge: &str,
    code: &str,
    user_agent: &str,
    ip: &str,
) -> Result<SignedIn, AppError> {
    let now = kefu_store::now();
    let mut tx = app.store.write().await?;
    let Some((challenge_id, agent_id, expires_at)) =
        totp::find_challenge(&mut tx.conn(), &token_hash(challenge)).await?
    else {
        return Err(AppError::Unauthenticated);
    };
    if expires_at <= now {
        totp::delete_challenge(&mut tx.conn(), challenge_id).await?;
        tx.commit().await?;
        return Err(AppError::Unauthenticated);
    }
    let throttle_key = token_hash(&format!("two-step:{agent_id}"));
    let policy = ThrottlePolicy::default();
    let throttle_state = throttle::get(&mut tx.conn(), &throttle_key).await?;
    if policy.is_locked(throttle_state.as_ref(), now) {
        return Err(AppError::invalid(
            "code",
            "too many wrong codes; wait a quarter of an hour",
        ));
    }
    let mut state = totp::state(&mut tx.conn(), agent_id).await?;
    let secret = state.totp_secret.clone().ok_or(AppError::Unauthenticated)?;
    let Some(step) =
        kefu_domain::totp::verify(&secret, code, now.timestamp(), state.totp_last_step)
    else {
        let next = policy.record_failure(throttle_state, now);
        throttle::put(&mut tx.conn(), &throttle_key, &next).await?;
        tx.commit().await?;
        return Err(AppError::invalid(
            "code",
            "is not the current code from your authenticator app",
        ));
    };
    state.totp_last_step = Some(step);
    totp::save(&mut tx.conn(), agent_id, &state).await?;
    totp::delete_challenge(&mut tx.conn(), challenge_id).await?;
    throttle::clear(&mut tx.conn(), &throttle_key).await?;
    tx.commit().await?;
    let agent = {
        let mut reader = app.store.read().await?;
        agents::get(&mut reader.conn(), agent_id).await?
    };
    let caller = Caller {
        actor: Actor::Agent(agent_id),
        agent_id: Some(agent_id),
        role: agent.role,
        source: Source::Web,
    };
    open_session(app, &caller, agent_id, user_agent, ip).await
}

async fn open_session(
    app: &App,
    caller: &Caller,
    agent_id: i64,
    user_agent: &str,
    ip: &str,
) -> Result<SignedIn, AppError> {
    let token = random_hex(32);
    let csrf = random_hex(24);
    let mut tx = app.store.write().await?;
    let agent = agents::get(&mut tx.conn(), agent_id).await?;
    let session = sessions::insert(
        &mut tx.conn(),
        &NewSession {
            token_hash: &token_hash(&token),
            agent_id,
            csrf_token: &csrf,
            expires_at: kefu_store::now() + SESSION_MAX_AGE,
            user_agent: &user_agent.chars().take(300).collect::<String>(),
            ip,
        },
    )
    .await?;
    record(
        &mut tx,
        &caller.actor,
        Source::Web,
        "session",
        session.id,
        Action::Create,
        vec![],
    )
    .await?;
    if agent.status == AgentStatus::Offline {
        // Signing in starts the working day.
        agents::set_status(&mut tx.conn(), agent_id, AgentStatus::Online).await?;
        record(
            &mut tx,
            &caller.actor,
            Source::Web,
            "agent",
            agent_id,
            Action::Update,
            vec![status_change(agent.status, AgentStatus::Online)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(SignedIn {
        token,
        session,
        agent,
    })
}

/// Whether the caller has two-step sign-in on, and a secret being set up.
pub async fn two_step_state(
    app: &App,
    caller: &Caller,
) -> Result<(bool, Option<Vec<u8>>), AppError> {
    let agent_id = caller.agent_id.ok_or(AppError::Forbidden)?;
    let mut reader = app.store.read().await?;
    let state = totp::state(&mut reader.conn(), agent_id).await?;
    Ok((state.totp_secret.is_some(), state.totp_pending_secret))
}

/// Starts setting up two-step sign-in: a new secret to put into an
/// authenticator app, waiting for a code to confirm it.
pub async fn start_two_step(app: &App, caller: &Caller) -> Result<Vec<u8>, AppError> {
    let agent_id = caller.agent_id.ok_or(AppError::Forbidden)?;
    let secret: [u8; 20] = rand::random();
    let mut tx = app.store.write().await?;
    let mut state = totp::state(&mut tx.conn(), agent_id).await?;
    state.totp_pending_secret = Some(secret.to_vec());
    totp::save(&mut tx.conn(), agent_id, &state).await?;
    tx.commit().await?;
    Ok(secret.to_vec())
}

/// Switches two-step sign-in on once a code from the new secret matches.
pub async fn confirm_two_step(app: &App, caller: &Caller, code: &str) -> Result<(), AppError> {
    let agent_id = caller.agent_id.ok_or(AppError::Forbidden)?;
    let mut tx = app.store.write().await?;
    let mut state = totp::state(&mut tx.conn(), agent_id).await?;
    let pending = state
        .totp_pending_secret
        .clone()
        .ok_or_else(|| AppError::invalid("code", "start the set-up first"))?;
    let step = kefu_domain::totp::verify(&pending, code, kefu_store::now().timestamp(), None)
        .ok_or_else(|| {
            AppError::invalid(
                "code",
                "is not the current code from your authenticator app",
            )
        })?;
    let was_on = state.totp_secret.is_some();
    state = totp::TotpState {
        totp_secret: Some(pending),
        totp_pending_secret: None,
        totp_last_step: Some(step),
    };
    totp::save(&mut tx.conn(), agent_id, &state).await?;
    record(
        &mut tx,
        &caller.actor,
        caller.source,
        "agent",
        agent_id,
        Action::Update,
        vec![FieldChange {
            field: "two_step".into(),
            old: was_on.into(),
            new: true.into(),
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Switches two-step sign-in off, with a current code as proof.
pub async fn disable_two_step(app: &App, caller: &Caller, code: &str) -> Result<(), AppError> {
    let agent_id = caller.agent_id.ok_or(AppError::Forbidden)?;
    let mut tx = app.store.write().await?;
    let state = totp::state(&mut tx.conn(), agent_id).await?;
    let Some(secret) = state.totp_secret.clone() else {
        return Ok(());
    };
    kefu_domain::totp::verify(
        &secret,
        code,
        kefu_store::now().timestamp(),
        state.totp_last_step,
    )
    .ok_or_else(|| {
        AppError::invalid(
            "code",
            "is not the current code from your authenticator app",
        )
    })?;
    totp::save(&mut tx.conn(), agent_id, &totp::TotpState::default()).await?;
    record(
        &mut tx,
        &caller.actor,
        caller.source,
        "agent",
        agent_id,
        Action::Update,
        vec![FieldChange {
            field: "two_step".into(),
            old: true.into(),
            new: false.into(),
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Switches another agent's two-step sign-in off (administrators), for an
/// agent who lost the phone with the authenticator app. The agent signs in
/// with the password alone until setting it up again; the reset is audited.
/// Returns whether two-step sign-in was on.
pub async fn reset_two_step(app: &App, caller: &Caller, agent_id: i64) -> Result<bool, AppError> {
    caller.require(kefu_domain::Permission::ManageAgents)?;
    let mut tx = app.store.write().await?;
    let state = totp::state(&mut tx.conn(), agent_id).await?;
    let was_on = state.totp_secret.is_some();
    if was_on || state.totp_pending_secret.is_some() {
        totp::save(&mut tx.conn(), agent_id, &totp::TotpState::default()).await?;
    }
    if was_on {
        record(
            &mut tx,
            &caller.actor,
            caller.source,
            "agent",
            agent_id,
            Action::Update,
            vec![FieldChange {
                field: "two_step".into(),
                old: true.into(),
                new: false.into(),
            }],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(was_on)
}

/// Whether an agent has two-step sign-in on (administrators' view).
pub async fn agent_two_step_on(
    app: &App,
    caller: &Caller,
    agent_id: i64,
) -> Result<bool, AppError> {
    caller.require(kefu_domain::Permission::ManageAgents)?;
    let mut reader = app.store.read().await?;
    Ok(totp::state(&mut reader.conn(), agent_id)
        .await?
        .totp_secret
        .is_some())
}

/// The caller behind a session cookie, if the session is still valid.
pub async fn session_caller(app: &App, token: &str) -> Result<(Caller, Session, Agent), AppError> {
    let hash = token_hash(token);
    let (session, agent) = {
        let mut reader = app.store.read().await?;
        let session = sessions::find(&mut reader.conn(), &hash)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let agent = agents::get(&mut reader.conn(), session.agent_id).await?;
        (session, agent)
    };
    let now = kefu_store::now();
    if !agent.active || !signin::session_is_valid(session.created_at, session.last_seen_at, now) {
        return Err(AppError::Unauthenticated);
    }
    if signin::session_needs_touch(session.last_seen_at, now) {
        let mut tx = app.store.write().await?;
        sessions::touch(&mut tx.conn(), session.id, now).await?;
        tx.commit().await?;
    }
    let caller = Caller {
        actor: Actor::Agent(agent.id),
        agent_id: Some(agent.id),
        role: agent.role,
        source: Source::Web,
    };
    Ok((caller, session, agent))
}

/// Ends one session.
pub async fn sign_out(app: &App, caller: &Caller, session_id: i64) -> Result<(), AppError> {
    let mut tx = app.store.write().await?;
    sessions::delete(&mut tx.conn(), session_id).await?;
    record(
        &mut tx,
        &caller.actor,
        caller.source,
        "session",
        session_id,
        Action::Delete,
        vec![],
    )
    .await?;
    if let Some(agent_id) = caller.agent_id {
        let agent = agents::get(&mut tx.conn(), agent_id).await?;
        let others = sessions::count_for_agent(&mut tx.conn(), agent_id).await?;
        if others == 0 && agent.status != AgentStatus::Offline {
            // The last session ending ends the working day.
            agents::set_status(&mut tx.conn(), agent_id, AgentStatus::Offline).await?;
            let change = status_change(agent.status, AgentStatus::Offline);
            record(
                &mut tx,
                &caller.actor,
                caller.source,
                "agent",
                agent_id,
                Action::Update,
                vec![change],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Ends every session of the caller except `keep`; returns how many ended.
pub async fn sign_out_everywhere(
    app: &App,
    caller: &Caller,
    keep: Option<i64>,
) -> Result<u64, AppError> {
    let agent_id = caller.agent_id.ok_or(AppError::Forbidden)?;
    let mut tx = app.store.write().await?;
    let ended = sessions::delete_for_agent(&mut tx.conn(), agent_id, keep).await?;
    let change = FieldChange {
        field: "sessions_ended".into(),
        old: Value::Null,
        new: ended.into(),
    };
    record(
        &mut tx,
        &caller.actor,
        caller.source,
        "agent",
        agent_id,
        Action::Update,
        vec![change],
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// Changes the caller's password after checking the current one; every
/// other session of the caller ends.
pub async fn change_password(
    app: &App,
    caller: &Caller,
    current_session: Option<i64>,
    current: &str,
    new: &str,
) -> Result<(), AppError> {
    let agent_id = caller.agent_id.ok_or(AppError::Forbidden)?;
    let stored = {
        let mut reader = app.store.read().await?;
        agents::password_hash(&mut reader.conn(), agent_id).await?
    };
    let current = current.to_owned();
    let matches = tokio::task::spawn_blocking(move || {
        stored.is_some_and(|phc| verify_password(&phc, &current))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?;
    if !matches {
        return Err(AppError::invalid(
            "current_password",
            "is not your current password",
        ));
    }
    let new_hash = hash_in_background(new, "new_password").await?;
    let mut tx = app.store.write().await?;
    agents::set_password(&mut tx.conn(), agent_id, &new_hash).await?;
    sessions::delete_for_agent(&mut tx.conn(), agent_id, current_session).await?;
    record(
        &mut tx,
        &caller.actor,
        caller.source,
        "agent",
        agent_id,
        Action::Update,
        vec![password_changed()],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn hash_in_background(password: &str, field: &str) -> Result<String, AppError> {
    let password = password.to_owned();
    let field = field.to_owned();
    tokio::task::spawn_blocking(move || {
        hash_password(&password).map_err(|e| match e {
            AppError::Validation { reason, .. } => AppError::Validation { field, reason },
            other => other,
        })
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
}

fn status_change(from: AgentStatus, to: AgentStatus) -> FieldChange {
    FieldChange {
        field: "status".into(),
        old: from.as_str().into(),
        new: to.as_str().into(),
    }
}

fn password_changed() -> FieldChange {
    // The audit log records that the password changed, never a hash of it.
    FieldChange {
        field: "password".into(),
        old: "***".into(),
        new: "***".into(),
    }
}

/// Mails a one-time reset link if `email` belongs to an active agent. The
/// answer is the same either way, so the form reveals no accounts.
pub async fn request_password_reset(
    app: &App,
    email: &str,
    base_url: &str,
) -> Result<(), AppError> {
    let email = email.trim().to_lowercase();
    let mut tx = app.store.write().await?;
    let Some(credentials) = agents::credentials(&mut tx.conn(), &email).await? else {
        return Ok(());
    };
    if !credentials.active {
        return Ok(());
    }
    let agent = agents::get(&mut tx.conn(), credentials.id).await?;
    let token = random_hex(32);
    resets::insert(
        &mut tx.conn(),
        &token_hash(&token),
        agent.id,
        kefu_store::now() + RESET_TOKEN_LIFETIME,
    )
    .await?;
    let link = format!("{}/password-reset/{token}", base_url.trim_end_matches('/'));
    let (subject, body) = if agent.language == "en" {
        (
            "Reset your Kefu password".to_owned(),
            format!(
                "Hello {},\n\nOpen this link within an hour to choose a new password:\n{link}\n\nIf you did not ask for this, ignore this message; your password stays as it is.\n",
                agent.display_name
            ),
        )
    } else {
        (
            "重置您的 Kefu 密码".to_owned(),
            format!(
                "{}，您好：\n\n请在一小时内打开以下链接设置新密码：\n{link}\n\n如果这不是您本人的操作，请忽略本邮件，您的密码不会改变。\n",
                agent.display_name
            ),
        )
    };
    crate::mail_out::notify(&mut tx, &agent.email, &subject, &body).await?;
    let actor = Actor::System("password_reset".into());
    record(
        &mut tx,
        &actor,
        Source::Web,
        "agent",
        agent.id,
        Action::Update,
        vec![FieldChange {
            field: "password_reset_requested".into(),
            old: Value::Null,
            new: true.into(),
        }],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether a reset token can still be used (for showing the form).
pub async fn reset_token_is_usable(app: &App, token: &str) -> Result<bool, AppError> {
    let mut reader = app.store.read().await?;
    let found = resets::find(&mut reader.conn(), &token_hash(token)).await?;
    Ok(found.is_some_and(|r| r.used_at.is_none() && r.expires_at > kefu_store::now()))
}

/// Sets a new password with a reset token; the token works once, and every
/// session of the agent ends.
pub async fn reset_password(app: &App, token: &str, new_password: &str) -> Result<(), AppError> {
    let new_hash = hash_in_background(new_password, "new_password").await?;
    let mut tx = app.store.write().await?;
    let invalid = || {
        AppError::invalid(
            "token",
            "this reset link is invalid, used or expired; ask for a new one",
        )
    };
    let reset = resets::find(&mut tx.conn(), &token_hash(token))
        .await?
        .ok_or_else(invalid)?;
    let now = kefu_store::now();
    if reset.used_at.is_some()
        || reset.expires_at <= now
        || !resets::mark_used(&mut tx.conn(), reset.id, now).await?
    {
        return Err(invalid());
    }
    agents::set_password(&mut tx.conn(), reset.agent_id, &new_hash).await?;
    sessions::delete_for_agent(&mut tx.conn(), reset.agent_id, None).await?;
    let actor = Actor::System("password_reset".into());
    record(
        &mut tx,
        &actor,
        Source::Web,
        "agent",
        reset.agent_id,
        Action::Update,
        vec![password_changed()],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn record(
    tx: &mut Tx,
    actor: &Actor,
    source: Source,
    entity: &str,
    entity_id: i64,
    action: Action,
    changes: Vec<FieldChange>,
) -> Result<(), AppError> {
    audit_log::append(
        &mut tx.conn(),
        &audit_log::Entry {
            actor,
            source,
            entity,
            entity_id,
            action,
            changes,
        },
    )
    .await?;
    Ok(())
}
