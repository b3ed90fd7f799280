//! Sign-in rules: how long sessions live, and when repeated failures lock
//! an email address out for a while.

use chrono::{DateTime, Duration, Utc};

/// A session ends this long after its last use.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::hours(12);
/// A session ends this long after sign-in, however busy.
pub const SESSION_MAX_AGE: Duration = Duration::days(7);
/// Last use is written back at most this often, so reads stay reads.
pub const SESSION_TOUCH_INTERVAL: Duration = Duration::minutes(5);
/// A password-reset link works this long.
pub const RESET_TOKEN_LIFETIME: Duration = Duration::hours(1);

/// Whether a session signed in at `created_at` and last used at
/// `last_seen_at` is still valid at `now`.
pub fn session_is_valid(
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    now < created_at + SESSION_MAX_AGE && now < last_seen_at + SESSION_IDLE_TIMEOUT
}

/// Whether the session's last use should be written back now.
pub fn session_needs_touch(last_seen_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - last_seen_at >= SESSION_TOUCH_INTERVAL
}

/// How many failures lock an address, within what window, for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures within `window` that trigger a lockout.
    pub max_failures: i64,
    /// The counting window.
    pub window: Duration,
    /// How long the lockout lasts.
    pub lockout: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            max_failures: 5,
            window: Duration::minutes(15),
            lockout: Duration::minutes(15),
        }
    }
}

/// Failed sign-ins recorded for one email address (existing or not, so
/// that lockouts reveal nothing about which accounts exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    /// Failures in the current window.
    pub failures: i64,
    /// When the current window began.
    pub window_started_at: DateTime<Utc>,
    /// Sign-in refused until then.
    pub locked_until: Option<DateTime<Utc>>,
}

impl ThrottlePolicy {
    /// Whether sign-in is refused at `now`.
    pub fn is_locked(&self, state: Option<&ThrottleState>, now: DateTime<Utc>) -> bool {
        state
            .and_then(|s| s.locked_until)
            .is_some_and(|until| now < until)
    }

    /// The state after one more failure at `now`.
    pub fn record_failure(
        &self,
        state: Option<ThrottleState>,
        now: DateTime<Utc>,
    ) -> ThrottleState {
        match state {
            Some(s) if self.is_locked(Some(&s), now) => s,
            Some(s) if now - s.window_started_at < self.window => {
                let failures = s.failures + 1;
                ThrottleState {
                    failures,
                    window_started_at: s.window_started_at,
                    locked_until: (failures >= self.max_failures).then(|| now + self.lockout),
                }
            }
            _ => ThrottleState {
                failures: 1,
                window_started_at: now,
                locked_until: (self.max_failures <= 1).then(|| now + self.lockout),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default()
            + Duration::minutes(minutes)
    }

    #[test]
    fn five_quick_failures_lock_for_fifteen_minutes() {
        let policy = ThrottlePolicy::default();
        let mut state = None;
        for minute in 0..4 {
            state = Some(policy.record_failure(state, at(minute)));
            assert!(
                !policy.is_locked(state.as_ref(), at(minute)),
                "locked after {} failures",
                minute + 1
            );
        }
        state = Some(policy.record_failure(state, at(4)));
        assert!(policy.is_locked(state.as_ref(), at(4)));
        assert!(policy.is_locked(state.as_ref(), at(18)));
        assert!(!policy.is_locked(state.as_ref(), at(19)));
    }

    #[test]
    fn slow_failures_never_lock() {
        let policy = ThrottlePolicy::default();
        let mut state = None;
        for n in 0..20 {
            state = Some(policy.record_failure(state, at(n * 16)));
            assert!(!policy.is_locked(state.as_ref(), at(n * 16)));
        }
    }

    #[test]
    fn failures_during_a_lockout_do_not_extend_it() {
        let policy = ThrottlePolicy::default();
        let mut state = None;
        for minute in 0..5 {
            state = Some(policy.record_failure(state, at(minute)));
        }
        let locked = state;
        state = Some(policy.record_failure(state, at(10)));
        assert_eq!(state, locked);
    }

    #[test]
    fn sessions_expire_when_idle_or_old() {
        assert!(session_is_valid(at(0), at(0), at(60)));
        assert!(!session_is_valid(at(0), at(0), at(12 * 60)));
        let busy_until = at(7 * 24 * 60 - 1);
        assert!(session_is_valid(at(0), busy_until, busy_until));
        assert!(!session_is_valid(at(0), busy_until, at(7 * 24 * 60)));
        assert!(!session_needs_touch(at(0), at(4)));
        assert!(session_needs_touch(at(0), at(5)));
    }

    proptest! {
        #[test]
        fn never_locked_below_the_threshold(gaps in proptest::collection::vec(0i64..40, 1..30)) {
            let policy = ThrottlePolicy::default();
            let mut state = None;
            let mut now = 0;
            let mut in_window: Vec<i64> = Vec::new();
            for gap in gaps {
                now += gap;
                let was_locked = policy.is_locked(state.as_ref(), at(now));
                state = Some(policy.record_failure(state, at(now)));
                if !was_locked {
                    in_window.push(now);
                }
                if policy.is_locked(state.as_ref(), at(now)) && !was_locked {
                    // A lockout needs max_failures failures inside one window.
                    let start = state.map(|s| s.window_started_at).unwrap_or_default();
                    let recent = in_window.iter().filter(|m| at(**m) >= start).count() as i64;
                    prop_assert!(recent >= policy.max_failures);
                }
            }
        }
    }
}
