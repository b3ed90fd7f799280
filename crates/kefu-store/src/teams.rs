//! Teams (groups) of agents, each with members and an optional lead.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A team.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Team {
    /// Internal id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// What the team handles.
    pub description: String,
    /// The team lead, an agent id.
    pub lead_agent_id: Option<i64>,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// The fields a manager edits.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TeamFields {
    /// Unique name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Lead agent id.
    pub lead_agent_id: Option<i64>,
}

/// Creates a team.
pub async fn insert(conn: &mut Conn<'_>, fields: &TeamFields) -> Result<Team, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "INSERT INTO teams (name, description, lead_agent_id, version, created_at, updated_at) \
         VALUES ($1, $2, $3, 1, $4, $4) \
         RETURNING id, name, description, lead_agent_id, version, created_at, updated_at"
    )
    .bind(&fields.name)
    .bind(&fields.description)
    .bind(fields.lead_agent_id)
    .bind(now)
    .fetch_one(c)
    .await?))
}

/// One team by id.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<Team, StoreError> {
    let team: Option<Team> = on_conn!(conn, |c| {
        sqlx::query_as(
        "SELECT id, name, description, lead_agent_id, version, created_at, updated_at FROM teams WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?
    });
    team.ok_or(StoreError::NotFound)
}

/// Teams in id order after `after`, at most `limit`.
pub async fn list(conn: &mut Conn<'_>, after: i64, limit: i64) -> Result<Vec<Team>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT id, name, description, lead_agent_id, version, created_at, updated_at \
         FROM teams WHERE id > $1 ORDER BY id LIMIT $2"
    )
    .bind(after)
    .bind(limit)
    .fetch_all(c)
    .await?))
}

/// Saves new field values if the team is still at `expected_version`;
/// otherwise `Conflict` with the version now stored.
pub async fn update(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    fields: &TeamFields,
) -> Result<Team, StoreError> {
    let now = crate::now();
    let updated: Option<Team> = on_conn!(conn, |c| {
        sqlx::query_as(
        "UPDATE teams SET name = $1, description = $2, lead_agent_id = $3, version = version + 1, updated_at = $4 \
         WHERE id = $5 AND version = $6 \
         RETURNING id, name, description, lead_agent_id, version, created_at, updated_at"
    )
    .bind(&fields.name)
    .bind(&fields.description)
    .bind(fields.lead_agent_id)
    .bind(now)
    .bind(id)
    .bind(expected_version)
    .fetch_optional(&mut *c)
    .await?
    });
    match updated {
        Some(team) => Ok(team),
        None => Err(StoreError::Conflict {
            current_version: get(conn, id).await?.version,
        }),
    }
}

/// The member agent ids of a team, ascending.
pub async fn members(conn: &mut Conn<'_>, team_id: i64) -> Result<Vec<i64>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT agent_id FROM team_members WHERE team_id = $1 ORDER BY agent_id"
    )
    .bind(team_id)
    .fetch_all(c)
    .await?))
}

/// The teams an agent belongs to, ascending.
pub async fn of_member(conn: &mut Conn<'_>, agent_id: i64) -> Result<Vec<i64>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT team_id FROM team_members WHERE agent_id = $1 ORDER BY team_id"
    )
    .bind(agent_id)
    .fetch_all(c)
    .await?))
}

/// Every (team id, agent id) membership pair for the given teams.
pub async fn memberships(
    conn: &mut Conn<'_>,
    first_team: i64,
    last_team: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "SELECT team_id, agent_id FROM team_members WHERE team_id BETWEEN $1 AND $2 ORDER BY team_id, agent_id"
    )
    .bind(first_team)
    .bind(last_team)
    .fetch_all(c)
    .await?)
    })
}

/// Replaces a team's members with `agent_ids`.
pub async fn set_members(
    conn: &mut Conn<'_>,
    team_id: i64,
    agent_ids: &[i64],
) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query("DELETE FROM team_members WHERE team_id = $1")
            .bind(team_id)
            .execute(&mut *c)
            .await?;
        for agent_id in agent_ids {
            sqlx::query(
                "INSERT INTO team_members (team_id, agent_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(team_id)
            .bind(agent_id)
            .bind(now)
            .execute(&mut *c)
            .await?;
        }
        Ok(())
    })
}
