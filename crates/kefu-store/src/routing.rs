//! Routing: team strategies, agent capacity and skills, the rules that
//! pick a team, and the tickets waiting for an agent.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A team's routing settings (a team never set routes manually).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct TeamRouting {
    /// The team.
    pub team_id: i64,
    /// `manual`, `round_robin`, `least_loaded` or `skills`.
    pub strategy: String,
    /// The agent chosen last.
    pub last_agent_id: Option<i64>,
}

/// An agent's routing settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct AgentRouting {
    /// The agent.
    pub agent_id: i64,
    /// Most open tickets, if limited.
    pub capacity: Option<i64>,
    /// Skill codes, comma-separated.
    pub skills: String,
}

/// Every team's settings that were ever set.
pub async fn team_settings(conn: &mut Conn<'_>) -> Result<Vec<TeamRouting>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT team_id, strategy, last_agent_id FROM team_routing ORDER BY team_id"
    )
    .fetch_all(c)
    .await?))
}

/// One team's settings, locking the row on PostgreSQL so two routers
/// working for the same team take turns (its loads and round-robin turn
/// are read fresh under the lock).
pub async fn lock_team(conn: &mut Conn<'_>, team_id: i64) -> Result<TeamRouting, StoreError> {
    let lock = match conn {
        Conn::Sqlite(_) => "",
        Conn::Postgres(_) => " FOR UPDATE",
    };
    let sql = format!(
        "SELECT team_id, strategy, last_agent_id FROM team_routing WHERE team_id = $1{lock}"
    );
    let row: Option<TeamRouting> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(team_id)
        .fetch_optional(c)
        .await?);
    Ok(row.unwrap_or(TeamRouting {
        team_id,
        strategy: "manual".into(),
        last_agent_id: None,
    }))
}

/// Sets a team's strategy.
pub async fn set_strategy(
    conn: &mut Conn<'_>,
    team_id: i64,
    strategy: &str,
) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query(
        "INSERT INTO team_routing (team_id, strategy, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (team_id) DO UPDATE SET strategy = excluded.strategy, updated_at = excluded.updated_at"
    )
    .bind(team_id)
    .bind(strategy)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())?
    });
    Ok(())
}

/// Records the agent a team chose last.
pub async fn set_last_agent(
    conn: &mut Conn<'_>,
    team_id: i64,
    agent_id: i64,
) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| sqlx::query(
        "UPDATE team_routing SET last_agent_id = $1, updated_at = $2 WHERE team_id = $3"
    )
    .bind(agent_id)
    .bind(now)
    .bind(team_id)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Every agent's settings that were ever set.
pub async fn agent_settings(conn: &mut Conn<'_>) -> Result<Vec<AgentRouting>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT agent_id, capacity, skills FROM agent_routing ORDER BY agent_id"
    )
    .fetch_all(c)
    .await?))
}

/// Sets an agent's capacity and skills.
pub async fn set_agent(conn: &mut Conn<'_>, settings: &AgentRouting) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query(
        "INSERT INTO agent_routing (agent_id, capacity, skills, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (agent_id) DO UPDATE SET capacity = excluded.capacity, skills = excluded.skills, \
         updated_at = excluded.updated_at"
    )
    .bind(settings.agent_id)
    .bind(settings.capacity)
    .bind(&settings.skills)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())?
    });
    Ok(())
}

/// Open tickets (new, open, pending, on hold) per assignee, for agents
/// that have any.
pub async fn open_loads(conn: &mut Conn<'_>) -> Result<Vec<(i64, i64)>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT assignee_id, count(*) FROM tickets WHERE assignee_id IS NOT NULL \
         AND status IN ('new', 'open', 'pending', 'on_hold') GROUP BY assignee_id"
    )
    .fetch_all(c)
    .await?))
}

/// A routing rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct RoutingRule {
    /// Id.
    pub id: i64,
    /// Name (unique).
    pub name: String,
    /// Order of evaluation, lowest first.
    pub position: i64,
    /// Applied.
    pub active: bool,
    /// Ticket types, comma-separated (empty: any).
    pub ticket_types: String,
    /// Priorities (empty: any).
    pub priorities: String,
    /// Customer grades (empty: any).
    pub grades: String,
    /// Channels (empty: any).
    pub channels: String,
    /// Tags, any of them (empty: any).
    pub tags: String,
    /// The team the ticket goes to.
    pub team_id: i64,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

/// A rule's fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFields {
    /// Name.
    pub name: String,
    /// Position.
    pub position: i64,
    /// Active.
    pub active: bool,
    /// Types.
    pub ticket_types: String,
    /// Priorities.
    pub priorities: String,
    /// Grades.
    pub grades: String,
    /// Channels.
    pub channels: String,
    /// Tags.
    pub tags: String,
    /// Team.
    pub team_id: i64,
}

const RULE_COLUMNS: &str = "id, name, position, active, ticket_types, priorities, grades, channels, tags, team_id, \
     version, created_at, updated_at";

/// Adds a rule.
pub async fn insert_rule(conn: &mut Conn<'_>, f: &RuleFields) -> Result<RoutingRule, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO routing_rules (name, position, active, ticket_types, priorities, grades, channels, tags, \
         team_id, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10) \
         RETURNING {RULE_COLUMNS}"
    );
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.name)
        .bind(f.position)
        .bind(f.active)
        .bind(&f.ticket_types)
        .bind(&f.priorities)
        .bind(&f.grades)
        .bind(&f.channels)
        .bind(&f.tags)
        .bind(f.team_id)
        .bind(now)
        .fetch_one(c)
        .await?))
}

/// Saves a rule if it is still at `expected_version`.
pub async fn update_rule(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &RuleFields,
) -> Result<RoutingRule, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE routing_rules SET name = $1, position = $2, active = $3, ticket_types = $4, priorities = $5, \
         grades = $6, channels = $7, tags = $8, team_id = $9, version = version + 1, updated_at = $10 \
         WHERE id = $11 AND version = $12 RETURNING {RULE_COLUMNS}"
    );
    let row: Option<RoutingRule> =
        on_conn!(&mut *conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&f.name)
            .bind(f.position)
            .bind(f.active)
            .bind(&f.ticket_types)
            .bind(&f.priorities)
            .bind(&f.grades)
            .bind(&f.channels)
            .bind(&f.tags)
            .bind(f.team_id)
            .bind(now)
            .bind(id)
            .bind(expected_version)
            .fetch_optional(c)
            .await?);
    match row {
        Some(r) => Ok(r),
        None => Err(StoreError::Conflict {
            current_version: rule(conn, id).await?.version,
        }),
    }
}

/// One rule.
pub async fn rule(conn: &mut Conn<'_>, id: i64) -> Result<RoutingRule, StoreError> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM routing_rules WHERE id = $1");
    let row: Option<RoutingRule> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?);
    row.ok_or(StoreError::NotFound)
}

/// Every rule in the order they are tried.
pub async fn rules(conn: &mut Conn<'_>) -> Result<Vec<RoutingRule>, StoreError> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM routing_rules ORDER BY position, id");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(c)
        .await?))
}

/// Deletes a rule.
pub async fn delete_rule(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    let deleted = on_conn!(conn, |c| sqlx::query(
        "DELETE FROM routing_rules WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Marks tickets that wait for an agent (open, unassigned) for the router
/// at `now`, keeping an earlier mark; clears the mark of the others.
pub async fn mark_waiting(
    conn: &mut Conn<'_>,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for chunk in ids.chunks(500) {
        let marks = crate::customers::placeholders(2, chunk.len());
        let sql = crate::for_backend(
            &*conn,
            format!(
                "UPDATE tickets SET route_at = CASE WHEN assignee_id IS NULL \
                 AND status IN ('new', 'open', 'pending', 'on_hold') THEN COALESCE(route_at, $1) ELSE NULL END \
                 WHERE id IN ({marks})"
            ),
        );
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}

/// Sets when the router looks at a ticket next (`None`: never).
pub async fn set_route_at(
    conn: &mut Conn<'_>,
    id: i64,
    at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    on_conn!(conn, |c| sqlx::query(
        "UPDATE tickets SET route_at = $1 WHERE id = $2"
    )
    .bind(at)
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Sets when the router looks at each of `ids` next (`None`: never), in
/// one statement per hundred tickets.
pub async fn set_route_at_many(
    conn: &mut Conn<'_>,
    ids: &[i64],
    at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    for chunk in ids.chunks(100) {
        let list = crate::customers::placeholders(2, chunk.len());
        let sql = format!("UPDATE tickets SET route_at = $1 WHERE id IN ({list})");
        let sql = crate::for_backend(&*conn, sql);
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at);
            for id in chunk {
                query = query.bind(*id);
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}

/// Open tickets (new, open, pending, on hold) per agent among `agents`:
/// (agent, count) for those holding any. Reads only those agents' part of
/// the assignee index, however many tickets the floor holds.
pub async fn open_loads_of(
    conn: &mut Conn<'_>,
    agents: &[i64],
) -> Result<Vec<(i64, i64)>, StoreError> {
    if agents.is_empty() {
        return Ok(Vec::new());
    }
    let list = crate::customers::placeholders(1, agents.len());
    let sql = format!(
        "SELECT assignee_id, count(*) FROM tickets WHERE assignee_id IN ({list}) \
         AND status IN ('new', 'open', 'pending', 'on_hold') GROUP BY assignee_id"
    );
    let sql = crate::for_backend(&*conn, sql);
    on_conn!(conn, |c| {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in agents {
            query = query.bind(*id);
        }
        Ok(query.fetch_all(c).await?)
    })
}

/// The tickets the router should look at by `now`, soonest first; on
/// PostgreSQL locked, skipping those another instance holds.
pub async fn claim_waiting(
    conn: &mut Conn<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    let lock = match conn {
        Conn::Sqlite(_) => "",
        Conn::Postgres(_) => " FOR UPDATE SKIP LOCKED",
    };
    let sql =
        format!("SELECT id FROM tickets WHERE route_at <= $1 ORDER BY route_at, id LIMIT $2{lock}");
    on_conn!(conn, |c| Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await?))
}
