//! Service-standards measurements: how late SLA alarms fire when many fall
//! due together, and how long routing takes per ticket.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use kefu_app::{App, Caller};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn input<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).context("bench input")
}

fn percentile_ms(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Creates `n` tickets with `body` (plus a running number in the
/// subject), 64 at a time, through the application; answers their ids.
async fn create_tickets(app: &App, caller: &Caller, n: usize, body: Value) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let end = (start + 64).min(n);
        let mut batch = tokio::task::JoinSet::new();
        for i in start..end {
            let app = app.clone();
            let caller = caller.clone();
            let mut body = body.clone();
            body["subject"] = json!(format!(
                "{} {i}",
                body["subject"].as_str().unwrap_or("bench")
            ));
            batch.spawn(async move {
                let ticket: kefu_app::tickets::NewTicket = input(body)?;
                Ok::<i64, anyhow::Error>(
                    kefu_app::tickets::create_ticket(&app, &caller, ticket)
                        .await?
                        .ticket
                        .id,
                )
            });
        }
        while let Some(done) = batch.join_next().await {
            ids.push(done??);
        }
        start = end;
    }
    Ok(ids)
}

/// Alarms: `n` tickets whose first response falls due within about a
/// second of each other, the real alarm loop running; how long after its
/// due time each breach (with its escalation step) was committed.
pub async fn alarms(app: &App, admin: &Caller, n: usize) -> Result<Value> {
    let day = "00:00-24:00";
    let calendar = kefu_app::calendars::create_calendar(
        app,
        admin,
        input(
            json!({"name": "bench 7×24", "time_zone": "Asia/Shanghai", "hours": {
            "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day}}),
        )?,
    )
    .await?;
    kefu_app::sla::create_policy(
        app,
        admin,
        input(json!({"name": "bench alarms", "position": -100,
            "calendar_id": calendar.calendar.id, "tags": ["bench-alarm"], "first_response_minutes": 1,
            "escalation": [{"after_minutes": 0, "action": "notify_team_lead"}]}))?,
    )
    .await?;
    let created = Instant::now();
    let ids = create_tickets(
        app,
        admin,
        n,
        json!({"subject": "bench alarm", "tags": ["bench-alarm"]}),
    )
    .await?;
    let creation_s = created.elapsed().as_secs_f64();
    let due: HashMap<i64, DateTime<Utc>> = {
        let mut reader = app.store.read().await?;
        kefu_store::sla::facts(&mut reader.conn(), &ids)
            .await?
            .into_iter()
            .filter_map(|f| f.sla.first_response_due_at.map(|d| (f.id, d)))
            .collect()
    };
    if due.len() != n {
        bail!("{} of {n} tickets got a first-response due time", due.len());
    }
    let first_due = due.values().min().copied().unwrap_or_default();
    let last_due = due.values().max().copied().unwrap_or_default();
    eprintln!(
        "{n} alarms due between {first_due} and {last_due}; waiting for them (about a minute)"
    );
    let worker = kefu_app::alarms::start(app);
    let mut lags: Vec<f64> = Vec::with_capacity(n);
    let mut seen: HashMap<i64, bool> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    while seen.len() < n {
        if Instant::now() > deadline {
            worker.abort();
            bail!(
                "only {} of {n} alarms fired within four minutes",
                seen.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = Utc::now();
        let mut reader = app.store.read().await?;
        let waiting: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !seen.contains_key(id))
            .collect();
        for facts in kefu_store::sla::facts(&mut reader.conn(), &waiting).await? {
            if facts.marks.sla_breached_due_at.is_some() {
                seen.insert(facts.id, true);
                let lag = (now - due[&facts.id]).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                lags.push(lag);
            }
        }
    }
    worker.abort();
    lags.sort_by(f64::total_cmp);
    Ok(json!({
        "alarms": n,
        "created_in_s": creation_s,
        "due_spread_ms": (last_due - first_due).num_milliseconds(),
        "lag_ms_p50": percentile_ms(&lags, 0.5),
        "lag_ms_p95": percentile_ms(&lags, 0.95),
        "lag_ms_max": lags.last().copied().unwrap_or(0.0),
        "poll_ms": 5,
    }))
}

/// Routing: `n` tickets waiting for a team of `agents` online agents
/// (least loaded); the router's passes timed until all are assigned; and
/// the pure decision alone.
pub async fn routing(app: &App, admin: &Caller, n: usize, agents: usize) -> Result<Value> {
    let mut members = Vec::with_capacity(agents);
    for i in 0..agents {
        let agent = kefu_app::directory::create_agent(
            app,
            admin,
            input(json!({"email": format!("bench.router{i}@xinghe.example"),
                "display_name": format!("路由 {i}"), "role": "agent"}))?,
        )
        .await?;
        members.push(agent.id);
    }
    {
        let mut tx = app.store.write().await?;
        for id in &members {
            kefu_store::agents::set_status(
                &mut tx.conn(),
                *id,
                kefu_domain::presence::AgentStatus::Online,
            )
            .await?;
        }
        tx.commit().await?;
    }
    let team = kefu_app::directory::create_team(
        app,
        admin,
        input(json!({"name": "bench routing", "member_ids": members}))?,
    )
    .await?;
    kefu_app::routing::set_team_strategy(
        app,
        admin,
        team.team.id,
        &input(json!({"strategy": "least_loaded"}))?,
    )
    .await?;
    let ids = create_tickets(
        app,
        admin,
        n,
        json!({"subject": "bench route", "team_id": team.team.id}),
    )
    .await?;
    let started = Instant::now();
    let mut assigned = 0;
    loop {
        let report = kefu_app::routing::sweep(app, Utc::now()).await?;
        assigned += report.assigned;
        if report.tickets == 0 {
            break;
        }
    }
    let elapsed = started.elapsed();
    if assigned != ids.len() {
        bail!("{assigned} of {} tickets assigned", ids.len());
    }
    // The decision alone, on the same team size.
    let candidates: Vec<kefu_domain::routing::Candidate> = members
        .iter()
        .enumerate()
        .map(|(i, id)| kefu_domain::routing::Candidate {
            agent_id: *id,
            online: true,
            open: (i % 7) as i64,
            capacity: Some(30),
            skills: vec!["language:zh-cn".into()],
        })
        .collect();
    let needs = kefu_domain::routing::needs(Some("zh-CN"), "phone", Some("宽带"));
    let rounds = 100_000;
    let pure = Instant::now();
    let mut last = None;
    for _ in 0..rounds {
        last = kefu_domain::routing::choose(
            kefu_domain::routing::Strategy::Skills,
            std::hint::black_box(&candidates),
            &needs,
            last,
        );
    }
    let pure_us = pure.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    Ok(json!({
        "tickets": n,
        "agents": agents,
        "routed_in_ms": elapsed.as_secs_f64() * 1000.0,
        "per_ticket_ms": elapsed.as_secs_f64() * 1000.0 / n as f64,
        "decision_only_us": pure_us,
    }))
}
