//! `/api/v1/customers` and `/api/v1/organizations`: the customer archive.

use super::ListParams;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, ApiQuery, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kefu_app::customers::{
    self, ContactView, CustomerChanges, CustomerProfile, CustomerQuery, CustomerSummary,
    CustomerView, DuplicateGroupView, MergeInput, NewCustomer, OrderInput, OrganizationInput,
    OrganizationView,
};
use kefu_app::page::Page;
use kefu_store::orders::Order;
use kefu_store::organizations::Organization;
use serde::Deserialize;

/// Lists customers: search, filters, sort, cursor.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(query): ApiQuery<CustomerQuery>,
) -> Result<Json<Page<CustomerSummary>>, ApiError> {
    Ok(Json(
        customers::list_customers(&state.app, &caller, &query).await?,
    ))
}

/// Creates a customer.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<NewCustomer>,
) -> Result<(StatusCode, Json<CustomerView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(customers::create_customer(&state.app, &caller, input).await?),
    ))
}

/// One customer.
pub async fn show(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<CustomerView>, ApiError> {
    Ok(Json(
        customers::get_customer(&state.app, &caller, id).await?,
    ))
}

/// The 360° view.
pub async fn profile(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<CustomerProfile>, ApiError> {
    Ok(Json(customers::profile(&state.app, &caller, id).await?))
}

/// Changes a customer; the body carries the `version` read.
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(changes): ApiJson<CustomerChanges>,
) -> Result<Json<CustomerView>, ApiError> {
    Ok(Json(
        customers::update_customer(&state.app, &caller, id, changes).await?,
    ))
}

/// Unmasks one customer's contact points (audited).
pub async fn reveal(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<Vec<ContactView>>, ApiError> {
    Ok(Json(
        customers::reveal_contacts(&state.app, &caller, id).await?,
    ))
}

/// `?kind=phone&value=…`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupParams {
    /// Contact kind.
    pub kind: String,
    /// Contact value as written.
    pub value: String,
}

/// Finds the one customer holding a contact value.
pub async fn lookup(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(params): ApiQuery<LookupParams>,
) -> Result<Json<CustomerView>, ApiError> {
    Ok(Json(
        customers::lookup(&state.app, &caller, &params.kind, &params.value).await?,
    ))
}

/// Everything about one customer as JSON (audited).
pub async fn export(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(
        customers::export_customer(&state.app, &caller, id).await?,
    ))
}

/// `{"version": n}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionBody {
    /// The version the requester read.
    pub version: i64,
}

/// Erases a customer's personal data.
pub async fn erase(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<VersionBody>,
) -> Result<Json<CustomerView>, ApiError> {
    Ok(Json(
        customers::erase_customer(&state.app, &caller, id, body.version).await?,
    ))
}

/// Records an order for the customer.
pub async fn add_order(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<OrderInput>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(customers::add_order(&state.app, &caller, id, input).await?),
    ))
}

/// `?q=…&cursor=…&limit=…`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationParams {
    /// Part of the name.
    pub q: Option<String>,
    /// Cursor.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
}

/// Lists organizations.
pub async fn list_organizations(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(params): ApiQuery<OrganizationParams>,
) -> Result<Json<Page<OrganizationView>>, ApiError> {
    let page = ListParams {
        cursor: params.cursor,
        limit: params.limit,
    }
    .page()?;
    Ok(Json(
        customers::list_organizations(&state.app, &caller, params.q.as_deref(), page).await?,
    ))
}

/// Creates an organization.
pub async fn create_organization(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<OrganizationInput>,
) -> Result<(StatusCode, Json<Organization>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(customers::create_organization(&state.app, &caller, input).await?),
    ))
}

/// One organization.
pub async fn show_organization(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<OrganizationView>, ApiError> {
    Ok(Json(
        customers::get_organization(&state.app, &caller, id).await?,
    ))
}

/// Changes an organization.
pub async fn update_organization(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<OrganizationInput>,
) -> Result<Json<Organization>, ApiError> {
    Ok(Json(
        customers::update_organization(&state.app, &caller, id, input).await?,
    ))
}

/// Possible duplicates to review.
pub async fn duplicates(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<DuplicateGroupView>>, ApiError> {
    Ok(Json(customers::duplicates(&state.app, &caller).await?))
}

/// Merges a duplicate into a survivor.
pub async fn merge(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<MergeInput>,
) -> Result<Json<CustomerView>, ApiError> {
    Ok(Json(
        customers::merge_customers(&state.app, &caller, &input).await?,
    ))
}

/// `?dry_run=true&mapping={"手机号":"phone","备注":null}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// Check only; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Column header → field code (or null to leave it out), as JSON;
    /// columns not named keep the mapping guessed from the header.
    pub mapping: Option<String>,
}

/// Imports customers from the CSV or XLSX file in the body: every row or
/// none. A file with bad rows gets 422 with every row's errors.
pub async fn import(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(params): ApiQuery<ImportParams>,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let overrides: std::collections::BTreeMap<String, Option<String>> = match &params.mapping {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            ApiError::from(kefu_app::AppError::invalid(
                "mapping",
                format!("must be a JSON object of column header to field code ({e})"),
            ))
        })?,
        None => Default::default(),
    };
    let report =
        kefu_app::import::import_file(&state.app, &caller, &body, &overrides, params.dry_run)
            .await?;
    if report.errors.is_empty() {
        return Ok(Json(report).into_response());
    }
    let first = &report.errors[0];
    let error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "import_rejected")
        .with_field("file")
        .arg("count", report.errors.len().to_string())
        .arg("row", first.row.to_string())
        .arg("column", format!("{:?}", first.column))
        .arg("reason", first.reason.clone());
    let (status, body) = error.into_body();
    let body = serde_json::json!({ "error": body.error, "report": report });
    Ok((status, Json(body)).into_response())
}

/// The customer list matching the filters as a CSV or XLSX file (audited).
pub async fn export_list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(query): ApiQuery<CustomerQuery>,
) -> Result<axum::response::Response, ApiError> {
    Ok(export_response(&state, &caller, query.format.as_deref(), &query).await?)
}

/// Builds the download of an export; shared with the customers page.
pub async fn export_response(
    state: &AppState,
    caller: &kefu_app::Caller,
    format: Option<&str>,
    query: &CustomerQuery,
) -> Result<axum::response::Response, kefu_app::AppError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let xlsx = match format.map(str::trim).unwrap_or("csv") {
        "" | "csv" => false,
        "xlsx" => true,
        other => {
            return Err(kefu_app::AppError::invalid(
                "format",
                format!("unknown format {other:?}; valid: csv, xlsx"),
            ));
        }
    };
    let rows = kefu_app::import::export_rows(&state.app, caller, query).await?;
    let (bytes, content_type, extension) = if xlsx {
        (
            kefu_app::import::write_xlsx(&rows)?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        )
    } else {
        (
            kefu_app::import::write_csv(&rows)?,
            "text/csv; charset=utf-8",
            "csv",
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"customers.{extension}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
