//! The customer archive pages: the customer list and search, the 360°
//! view, the customer form, organizations, and the privacy actions
//! (reveal, export, erase).

use super::custom_fields::{
    CustomInput, custom_inputs, custom_values, filter_choices, form_fields, form_text,
};
use super::form::FormState;
use super::{Fields, caller, field, url_escape};
use super::{PageContext, Shell, failure, render};
use crate::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kefu_app::customers::{
    self, ContactInput, ContactView, CustomerChanges, CustomerProfile, CustomerQuery, MergeInput,
    NewCustomer, OrderInput, OrganizationInput, TimelineEntry,
};
use kefu_app::page::PageRequest;
use kefu_app::{AppError, Caller};
use kefu_domain::Permission;
use kefu_domain::custom_field::FieldTarget;
use kefu_domain::customer::{CompanySize, ContactKind, Gender, Grade, display_phone};

pub(super) fn allows(context: &PageContext, permission: Permission) -> bool {
    context
        .signed_in
        .as_ref()
        .is_some_and(|s| s.agent.role.allows(permission))
}

/// A code with its catalogue key, for selects and badges.
pub struct Choice {
    /// Code name.
    pub code: &'static str,
    /// Catalogue key of its label.
    pub key: String,
}

pub(super) fn choices<T: Copy>(
    all: &[T],
    code: fn(T) -> &'static str,
    section: &str,
) -> Vec<Choice> {
    all.iter()
        .map(|v| Choice {
            code: code(*v),
            key: format!("{section}.{}", code(*v)),
        })
        .collect()
}

fn grade_choices() -> Vec<Choice> {
    choices(Grade::ALL, Grade::as_str, "grades")
}

fn gender_choices() -> Vec<Choice> {
    choices(Gender::ALL, Gender::as_str, "genders")
}

fn size_choices() -> Vec<Choice> {
    choices(CompanySize::ALL, CompanySize::as_str, "company_sizes")
}

// ---------------------------------------------------------------- list

#[derive(Template)]
#[template(path = "customers.html")]
struct ListPage {
    shell: Shell,
    filter: FormState,
    rows: Vec<ListRow>,
    next_link: Option<String>,
    error: Option<String>,
    can_create: bool,
    can_merge: bool,
    can_import: bool,
    export_link: Option<String>,
    grades: Vec<Choice>,
    sizes: Vec<Choice>,
    organization_name: Option<String>,
    custom_filters: Vec<(String, String)>,
}

struct ListRow {
    id: i64,
    name: String,
    grade_key: String,
    grade: &'static str,
    organization: String,
    place: String,
    phone: String,
    email: String,
    tags: String,
    completeness: u8,
    updated: String,
}

const LIST_FILTERS: [&str; 11] = [
    "field",
    "value",
    "q",
    "grade",
    "tag",
    "region",
    "industry",
    "company_size",
    "organization_id",
    "stale_months",
    "sort",
];

/// A query-string value, trimmed, if not empty.
fn filled(params: &Fields, name: &str) -> Option<String> {
    params
        .get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The customer list's filters, sort and cursor from the page's query string.
fn list_query(params: &Fields) -> CustomerQuery {
    let text = |name: &str| filled(params, name);
    let number = |name: &str| text(name).and_then(|v| v.parse::<i64>().ok());
    CustomerQuery {
        q: text("q"),
        organization_id: number("organization_id"),
        tag: text("tag"),
        grade: text("grade"),
        region: text("region"),
        industry: text("industry"),
        company_size: text("company_size"),
        stale_months: number("stale_months").and_then(|n| u32::try_from(n).ok()),
        sort: text("sort"),
        cursor: text("cursor"),
        limit: Some(50),
        format: None,
        field: text("field"),
        value: text("value"),
    }
}

/// `GET /customers`: search and filter the archive.
pub async fn list(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c,
        Err(e) => return failure(&context, e),
    };
    let text = |name: &str| filled(&params, name);
    let mut error = None;
    let query = list_query(&params);
    let page = match customers::list_customers(&state.app, caller, &query).await {
        Ok(page) => page,
        Err(AppError::Validation { field, reason }) => {
            error = Some(format!("{field}: {}", context.locale.reason(&reason)));
            kefu_app::page::Page {
                items: Vec::new(),
                next_cursor: None,
            }
        }
        Err(other) => return failure(&context, other),
    };
    let custom_filters = filter_choices(
        &context,
        &kefu_app::custom_fields::list_fields(&state.app, caller, Some(FieldTarget::Customer))
            .await
            .unwrap_or_default(),
    );
    let organization_name = match query.organization_id {
        Some(id) => customers::get_organization(&state.app, caller, id)
            .await
            .ok()
            .map(|o| o.organization.name),
        None => None,
    };
    let rows = page
        .items
        .into_iter()
        .map(|c| ListRow {
            id: c.id,
            grade_key: format!("grades.{}", c.grade.as_str()),
            grade: c.grade.as_str(),
            organization: c.organization.map(|o| o.name).unwrap_or_default(),
            place: [c.region, c.city]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" · "),
            phone: c.phone.map(|p| display_phone(&p)).unwrap_or_default(),
            email: c.email.unwrap_or_default(),
            tags: c.tags.join("、"),
            completeness: c.completeness,
            updated: context.time(c.updated_at),
            name: c.name,
        })
        .collect();
    let mut kept: Vec<(&str, String)> = Vec::new();
    for name in LIST_FILTERS {
        if let Some(v) = text(name) {
            kept.push((name, v));
        }
    }
    let next_link = page.next_cursor.map(|cursor| {
        let mut link = format!("/customers?cursor={}", url_escape(&cursor));
        for (name, value) in &kept {
            link.push_str(&format!("&{name}={}", url_escape(value)));
        }
        link
    });
    let values: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (*k, v.as_str())).collect();
    render(&ListPage {
        shell: context.shell("customers"),
        filter: FormState::with_values(&values),
        rows,
        next_link,
        error,
        can_create: allows(&context, Permission::ManageCustomers),
        can_merge: allows(&context, Permission::MergeCustomers),
        can_import: allows(&context, Permission::ImportCustomers),
        export_link: allows(&context, Permission::ExportCustomers).then(|| {
            let mut link = "/customers/export?".to_owned();
            for (name, value) in &kept {
                if *name != "cursor" {
                    link.push_str(&format!("{name}={}&", url_escape(value)));
                }
            }
            link
        }),
        grades: grade_choices(),
        sizes: size_choices(),
        organization_name,
        custom_filters,
    })
}

// ---------------------------------------------------------------- form

#[derive(Template)]
#[template(path = "customer_form.html")]
struct FormPage {
    shell: Shell,
    /// `None` for a new customer.
    id: Option<i64>,
    form: FormState,
    grades: Vec<Choice>,
    genders: Vec<Choice>,
    sizes: Vec<Choice>,
    organizations: Vec<(String, String)>,
    custom: Vec<CustomInput>,
}

async fn organization_options(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<(String, String)>, AppError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    // A select is only sensible for a few hundred; beyond that the id field is used.
    for _ in 0..5 {
        let page = PageRequest::parse(cursor.as_deref(), Some(kefu_app::page::MAX_LIMIT))?;
        let result = customers::list_organizations(&state.app, caller, None, page).await?;
        out.extend(
            result
                .items
                .into_iter()
                .map(|o| (o.organization.id.to_string(), o.organization.name)),
        );
        match result.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(out)
}

async fn form_page(
    state: &AppState,
    context: &PageContext,
    id: Option<i64>,
    form: FormState,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let organizations = match organization_options(state, caller).await {
        Ok(o) => o,
        Err(e) => return failure(context, e),
    };
    let fields =
        match kefu_app::custom_fields::list_fields(&state.app, caller, Some(FieldTarget::Customer))
            .await
        {
            Ok(f) => f,
            Err(e) => return failure(context, e),
        };
    let custom = custom_inputs(context, &fields, &form);
    let page = render(&FormPage {
        custom,
        shell: context.shell("customers"),
        id,
        form,
        grades: grade_choices(),
        genders: gender_choices(),
        sizes: size_choices(),
        organizations,
    });
    (status, page).into_response()
}

/// `GET /customers/new`.
pub async fn new_form(State(state): State<AppState>, context: PageContext) -> Response {
    let form = FormState::with_values(&[("grade", "c"), ("gender", "unknown")]);
    form_page(&state, &context, None, form, StatusCode::OK).await
}

/// The contact fields of the form, one kind each, several values per field
/// separated by commas or new lines.
const CONTACT_FIELDS: [(&str, &str); 4] = [
    ("phones", "phone"),
    ("emails", "email"),
    ("wechat", "wechat"),
    ("external_ids", "external"),
];

/// The contact inputs of a submitted form, and for each its form field.
fn contact_inputs(fields: &Fields) -> (Vec<ContactInput>, Vec<&'static str>) {
    let mut inputs = Vec::new();
    let mut origin = Vec::new();
    for (form_field, kind) in CONTACT_FIELDS {
        for value in field(fields, form_field)
            .split(['\n', ',', '，', ';', '；'])
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            inputs.push(ContactInput {
                kind: kind.to_owned(),
                value: value.to_owned(),
                label: String::new(),
            });
            origin.push(form_field);
        }
    }
    (inputs, origin)
}

fn tag_list(text: &str) -> Vec<String> {
    text.split([',', '，', '、', '\n'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Moves an error on `contact_points[i].value` to the form field it came from.
fn absorb_contact_error(
    form: &mut FormState,
    context: &PageContext,
    origin: &[&str],
    error: AppError,
) -> Result<(), AppError> {
    if let AppError::Validation { field, reason } = &error
        && let Some(rest) = field.strip_prefix("contact_points[")
        && let Some(index) = rest.split(']').next().and_then(|i| i.parse::<usize>().ok())
        && let Some(form_field) = origin.get(index)
    {
        form.set_error(form_field, context.locale.reason(reason));
        return Ok(());
    }
    if let AppError::Validation { field, .. } = &error
        && field.starts_with("tags[")
    {
        let AppError::Validation { reason, .. } = error else {
            return Ok(());
        };
        form.set_error("tags", context.locale.reason(&reason));
        return Ok(());
    }
    form.absorb(context.locale, error)
}

fn optional(fields: &Fields, name: &str) -> Option<String> {
    Some(field(fields, name).trim().to_owned()).filter(|v| !v.is_empty())
}

/// `POST /customers`.
pub async fn create(
    State(state): State<AppState>,
    context: PageContext,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let fields = form_fields(pairs);
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let defined = match kefu_app::custom_fields::list_fields(
        &state.app,
        &caller,
        Some(FieldTarget::Customer),
    )
    .await
    {
        Ok(f) => f,
        Err(e) => return failure(&context, e),
    };
    let (contact_points, origin) = contact_inputs(&fields);
    let organization_id = match optional(&fields, "organization_id").map(|v| v.parse::<i64>()) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            let mut form = FormState::from_submitted(&fields);
            form.set_error(
                "organization_id",
                context.locale.t("reasons.not_a_number").to_owned(),
            );
            return form_page(
                &state,
                &context,
                None,
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        None => None,
    };
    let input = NewCustomer {
        name: field(&fields, "name").to_owned(),
        gender: optional(&fields, "gender"),
        birthday: optional(&fields, "birthday"),
        language: optional(&fields, "language"),
        time_zone: None,
        organization_id,
        province: optional(&fields, "province"),
        city: optional(&fields, "city"),
        district: optional(&fields, "district"),
        street: optional(&fields, "street"),
        region: optional(&fields, "region"),
        industry: optional(&fields, "industry"),
        company_size: optional(&fields, "company_size"),
        grade: optional(&fields, "grade"),
        notes: optional(&fields, "notes"),
        external_id: optional(&fields, "external_id"),
        tags: tag_list(field(&fields, "tags")),
        contact_points,
        custom_fields: custom_values(&defined, &fields),
    };
    match customers::create_customer(&state.app, &caller, input).await {
        Ok(view) => {
            Redirect::to(&format!("/customers/{}?created=1", view.customer.id)).into_response()
        }
        Err(error) => {
            let mut form = FormState::from_submitted(&fields);
            match absorb_contact_error(&mut form, &context, &origin, error) {
                Ok(()) => {
                    form_page(
                        &state,
                        &context,
                        None,
                        form,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await
                }
                Err(other) => failure(&context, other),
            }
        }
    }
}

/// `GET /customers/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c,
        Err(e) => return failure(&context, e),
    };
    // The editor sees and edits the real values: editing is a reveal.
    let view = match customers::get_customer(&state.app, caller, id).await {
        Ok(v) => v,
        Err(e) => return failure(&context, e),
    };
    let contacts = if view.contact_points.iter().any(|p| p.masked) {
        match customers::reveal_contacts(&state.app, caller, id).await {
            Ok(c) => c,
            Err(e) => return failure(&context, e),
        }
    } else {
        view.contact_points.clone()
    };
    let joined = |kind: ContactKind| {
        contacts
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| {
                if kind == ContactKind::Phone {
                    display_phone(&p.value)
                } else {
                    p.value.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let c = &view.customer;
    let birthday = c.birthday.map(|b| b.to_string()).unwrap_or_default();
    let organization = c.organization_id.map(|o| o.to_string()).unwrap_or_default();
    let custom: Vec<(String, String)> = view
        .custom_fields
        .iter()
        .map(|(key, value)| (format!("cf_{key}"), form_text(value)))
        .collect();
    let mut form = FormState::with_values(&[
        ("version", &c.version.to_string()),
        ("name", &c.name),
        ("gender", c.gender.as_str()),
        ("birthday", &birthday),
        ("language", &c.language),
        ("organization_id", &organization),
        ("province", &c.province),
        ("city", &c.city),
        ("district", &c.district),
        ("street", &c.street),
        ("region", &c.region),
        ("industry", &c.industry),
        ("company_size", c.company_size.as_str()),
        ("grade", c.grade.as_str()),
        ("notes", &c.notes),
        ("external_id", c.external_id.as_deref().unwrap_or("")),
        ("tags", &view.tags.join(", ")),
        ("phones", &joined(ContactKind::Phone)),
        ("emails", &joined(ContactKind::Email)),
        ("wechat", &joined(ContactKind::Wechat)),
        ("external_ids", &joined(ContactKind::External)),
    ]);
    for (name, value) in &custom {
        form.set_value(name, value);
    }
    form_page(&state, &context, Some(id), form, StatusCode::OK).await
}

/// `POST /customers/{id}/edit`: a stale version keeps the agent's input and
/// says someone else changed the customer.
pub async fn save(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let fields = form_fields(pairs);
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let defined = match kefu_app::custom_fields::list_fields(
        &state.app,
        &caller,
        Some(FieldTarget::Customer),
    )
    .await
    {
        Ok(f) => f,
        Err(e) => return failure(&context, e),
    };
    let mut form = FormState::from_submitted(&fields);
    let Ok(version) = field(&fields, "version").parse::<i64>() else {
        form.set_error("version", context.locale.t("errors.conflict").to_owned());
        return form_page(
            &state,
            &context,
            Some(id),
            form,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let organization_id = match optional(&fields, "organization_id").map(|v| v.parse::<i64>()) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            form.set_error(
                "organization_id",
                context.locale.t("reasons.not_a_number").to_owned(),
            );
            return form_page(
                &state,
                &context,
                Some(id),
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        None => None,
    };
    let (contact_points, origin) = contact_inputs(&fields);
    let text = |name: &str| Some(field(&fields, name).to_owned());
    let changes = CustomerChanges {
        version,
        name: text("name"),
        gender: optional(&fields, "gender"),
        birthday: Some(optional(&fields, "birthday")),
        language: optional(&fields, "language"),
        time_zone: None,
        organization_id: Some(organization_id),
        province: text("province"),
        city: text("city"),
        district: text("district"),
        street: text("street"),
        region: text("region"),
        industry: text("industry"),
        company_size: optional(&fields, "company_size"),
        grade: optional(&fields, "grade"),
        notes: text("notes"),
        external_id: Some(optional(&fields, "external_id")),
        tags: Some(tag_list(field(&fields, "tags"))),
        contact_points: Some(contact_points),
        custom_fields: Some(custom_values(&defined, &fields)),
    };
    match customers::update_customer(&state.app, &caller, id, changes).await {
        Ok(_) => Redirect::to(&format!("/customers/{id}?saved=1")).into_response(),
        Err(AppError::Conflict { current_version }) => {
            form.set_error(
                "version",
                context.locale.tf(
                    "customers.conflict",
                    &[("version", &current_version.to_string())],
                ),
            );
            form_page(&state, &context, Some(id), form, StatusCode::CONFLICT).await
        }
        Err(error) => match absorb_contact_error(&mut form, &context, &origin, error) {
            Ok(()) => {
                form_page(
                    &state,
                    &context,
                    Some(id),
                    form,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
            Err(other) => failure(&context, other),
        },
    }
}

// ---------------------------------------------------------------- 360°

#[derive(Template)]
#[template(path = "customer.html")]
struct ProfilePage {
    shell: Shell,
    notice: Option<&'static str>,
    id: i64,
    version: i64,
    name: String,
    erased: bool,
    grade: &'static str,
    grade_key: String,
    gender_key: String,
    birthday: String,
    language: String,
    organization: Option<(i64, String)>,
    address: String,
    classification: Vec<(&'static str, String)>,
    notes: String,
    tags: Vec<String>,
    contacts: Vec<ContactRow>,
    masked: bool,
    completeness: u8,
    created: String,
    updated: String,
    totals: Vec<String>,
    orders_per_month: String,
    last_order: String,
    orders: Vec<OrderRow>,
    timeline: Vec<TimelineRow>,
    duplicates: Vec<i64>,
    custom: Vec<(String, String)>,
    merged_into: Option<i64>,
    can_merge: bool,
    can_edit: bool,
    can_reveal: bool,
    can_export: bool,
    can_erase: bool,
    order_form: FormState,
    tickets: Vec<super::tickets::QueueRow>,
    selectable: bool,
    open_tickets: i64,
    can_log_ticket: bool,
}

struct ContactRow {
    kind_key: String,
    value: String,
    label: String,
}

struct OrderRow {
    at: String,
    product: String,
    amount: String,
    channel: String,
}

struct TimelineRow {
    at: String,
    icon: &'static str,
    text: String,
}

/// `1,234.50 CNY` — amounts in major units with the code.
fn money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02} {currency}", minor % 100)
}

async fn profile_page(
    state: &AppState,
    context: &PageContext,
    id: i64,
    revealed: Option<Vec<ContactView>>,
    notice: Option<&'static str>,
    order_form: FormState,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let profile: CustomerProfile = match customers::profile(&state.app, caller, id).await {
        Ok(p) => p,
        Err(e) => return failure(context, e),
    };
    let names = super::settings::agent_names(state, caller)
        .await
        .unwrap_or_default();
    let locale = context.locale;
    let view = profile.customer;
    let c = &view.customer;
    let contacts_source = revealed.unwrap_or_else(|| view.contact_points.clone());
    let masked = contacts_source.iter().any(|p| p.masked);
    let contacts = contacts_source
        .into_iter()
        .map(|p| ContactRow {
            kind_key: format!("contact_kinds.{}", p.kind.as_str()),
            value: if p.kind == ContactKind::Phone && !p.masked {
                display_phone(&p.value)
            } else {
                p.value
            },
            label: p.label,
        })
        .collect();
    let actor_name = |actor: &str| -> String {
        match actor.split_once(':') {
            Some(("agent", id)) => id
                .parse::<i64>()
                .ok()
                .and_then(|id| names.get(&id).cloned())
                .unwrap_or_else(|| actor.to_owned()),
            Some(("system", name)) => format!("{} ({name})", locale.t("customers.system")),
            _ => actor.to_owned(),
        }
    };
    let timeline = profile
        .timeline
        .iter()
        .map(|entry| match entry {
            TimelineEntry::Change {
                at,
                actor,
                action,
                fields,
            } => TimelineRow {
                at: context.time(*at),
                icon: match action.as_str() {
                    "create" => "＋",
                    "read" => "👁",
                    _ => "✎",
                },
                text: locale.tf(
                    match action.as_str() {
                        "create" => "customers.timeline_created",
                        "read" => "customers.timeline_read",
                        _ => "customers.timeline_updated",
                    },
                    &[
                        ("who", &actor_name(actor)),
                        (
                            "fields",
                            &fields
                                .iter()
                                .map(|f| {
                                    let base = f.split('.').next().unwrap_or(f);
                                    locale
                                        .try_t(&format!("customers.{base}"))
                                        .map_or_else(|| f.clone(), str::to_owned)
                                })
                                .collect::<Vec<_>>()
                                .join(locale.t("customers.list_separator")),
                        ),
                    ],
                ),
            },
            TimelineEntry::Order { at, order } => TimelineRow {
                at: context.time(*at),
                icon: "¥",
                text: locale.tf(
                    "customers.timeline_order",
                    &[
                        ("product", &order.product),
                        ("amount", &money(order.amount_minor, &order.currency)),
                    ],
                ),
            },
            TimelineEntry::Ticket { at, ticket } => TimelineRow {
                at: context.time(*at),
                icon: "🎫",
                text: locale.tf(
                    "customers.timeline_ticket",
                    &[
                        ("number", &ticket.number),
                        ("subject", &ticket.subject),
                        (
                            "status",
                            locale.t(&format!("ticket_status.{}", ticket.status.as_str())),
                        ),
                    ],
                ),
            },
        })
        .collect();
    let classification = [
        ("customers.region", c.region.clone()),
        ("customers.industry", c.industry.clone()),
        (
            "customers.company_size",
            if c.company_size == CompanySize::Unknown {
                String::new()
            } else {
                locale
                    .t(&format!("company_sizes.{}", c.company_size.as_str()))
                    .to_owned()
            },
        ),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect();
    let defined =
        kefu_app::custom_fields::list_fields(&state.app, caller, Some(FieldTarget::Customer))
            .await
            .unwrap_or_default();
    let custom_shown: Vec<(String, String)> = defined
        .iter()
        .filter(|f| f.active)
        .filter_map(|f| {
            let text = view
                .custom_fields
                .get(&f.key)
                .map(form_text)
                .unwrap_or_default();
            let label = match locale {
                crate::i18n::Locale::ZhCn => f.label_zh.clone(),
                crate::i18n::Locale::En => f.label_en.clone(),
            };
            (!text.is_empty()).then(|| (label, text.replace(',', "、")))
        })
        .collect();
    let last_order = profile
        .totals
        .iter()
        .map(|t| t.last_at)
        .max()
        .map(|at| context.time(at))
        .unwrap_or_default();
    let page = ProfilePage {
        shell: context.shell("customers"),
        notice,
        id,
        version: c.version,
        name: c.name.clone(),
        erased: c.erased_at.is_some(),
        grade: c.grade.as_str(),
        grade_key: format!("grades.{}", c.grade.as_str()),
        gender_key: format!("genders.{}", c.gender.as_str()),
        birthday: c.birthday.map(|b| b.to_string()).unwrap_or_default(),
        language: c.language.clone(),
        organization: view.organization.as_ref().map(|o| (o.id, o.name.clone())),
        address: [&c.province, &c.city, &c.district, &c.street]
            .into_iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        classification,
        notes: c.notes.clone(),
        tags: view.tags.clone(),
        contacts,
        masked,
        completeness: view.completeness,
        created: context.time(c.created_at),
        updated: context.time(c.updated_at),
        totals: profile
            .totals
            .iter()
            .map(|t| {
                locale.tf(
                    "customers.total_line",
                    &[
                        ("amount", &money(t.amount_minor, &t.currency)),
                        ("count", &t.orders.to_string()),
                    ],
                )
            })
            .collect(),
        orders_per_month: profile
            .orders_per_month
            .map(|n| format!("{n:.1}"))
            .unwrap_or_default(),
        last_order,
        orders: profile
            .recent_orders
            .iter()
            .map(|o| OrderRow {
                at: context.time(o.ordered_at),
                product: o.product.clone(),
                amount: money(o.amount_minor, &o.currency),
                channel: o.channel.clone(),
            })
            .collect(),
        timeline,
        duplicates: profile.possible_duplicates,
        custom: custom_shown,
        merged_into: c.merged_into_id,
        can_merge: allows(context, Permission::MergeCustomers),
        can_edit: allows(context, Permission::ManageCustomers)
            && c.erased_at.is_none()
            && c.merged_into_id.is_none(),
        can_reveal: allows(context, Permission::RevealPersonalData) && masked,
        can_export: allows(context, Permission::ExportCustomers),
        can_erase: allows(context, Permission::ErasePersonalData) && c.erased_at.is_none(),
        order_form,
        tickets: profile
            .recent_tickets
            .iter()
            .map(|t| super::tickets::QueueRow::of(context, t))
            .collect(),
        selectable: false,
        open_tickets: profile.open_tickets,
        can_log_ticket: allows(context, Permission::ManageTickets)
            && c.erased_at.is_none()
            && c.merged_into_id.is_none(),
    };
    (status, render(&page)).into_response()
}

/// `GET /customers/{id}`: the 360° view.
pub async fn show(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Query(params): Query<Fields>,
) -> Response {
    let notice = if params.contains_key("created") {
        Some(context.locale.t("customers.created_notice"))
    } else if params.contains_key("saved") {
        Some(context.locale.t("customers.saved_notice"))
    } else if params.contains_key("order") {
        Some(context.locale.t("customers.order_notice"))
    } else if params.contains_key("erased") {
        Some(context.locale.t("customers.erased_notice"))
    } else if params.contains_key("merged") {
        Some(context.locale.t("duplicates.merged_notice"))
    } else {
        None
    };
    profile_page(
        &state,
        &context,
        id,
        None,
        notice,
        FormState::with_values(&[("currency", "CNY")]),
        StatusCode::OK,
    )
    .await
}

/// `POST /customers/{id}/reveal`: the 360° view with contact details
/// unmasked, recorded in the audit log.
pub async fn reveal(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match customers::reveal_contacts(&state.app, &caller, id).await {
        Ok(points) => {
            profile_page(
                &state,
                &context,
                id,
                Some(points),
                Some(context.locale.t("customers.revealed_notice")),
                FormState::with_values(&[("currency", "CNY")]),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => failure(&context, e),
    }
}

/// `POST /customers/{id}/export`: everything about the customer as a JSON
/// download (audited).
pub async fn export(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match customers::export_customer(&state.app, &caller, id).await {
        Ok(json) => {
            let body = serde_json::to_string_pretty(&json).unwrap_or_default();
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/json; charset=utf-8".to_owned(),
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"customer-{id}.json\""),
                    ),
                ],
                body,
            )
                .into_response()
        }
        Err(e) => failure(&context, e),
    }
}

/// `POST /customers/{id}/erase`: anonymise on request; needs the confirm box.
pub async fn erase(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    if field(&fields, "confirm") != "1" {
        return profile_page(
            &state,
            &context,
            id,
            None,
            Some(context.locale.t("customers.erase_confirm_needed")),
            FormState::with_values(&[("currency", "CNY")]),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let version = field(&fields, "version").parse::<i64>().unwrap_or(0);
    match customers::erase_customer(&state.app, &caller, id, version).await {
        Ok(_) => Redirect::to(&format!("/customers/{id}?erased=1")).into_response(),
        Err(AppError::Conflict { .. }) => {
            profile_page(
                &state,
                &context,
                id,
                None,
                Some(context.locale.t("errors.conflict")),
                FormState::with_values(&[("currency", "CNY")]),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => failure(&context, e),
    }
}

/// `POST /customers/{id}/orders`: record an order from the 360° page. The
/// date is read in the agent's time zone.
pub async fn add_order(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let mut form = FormState::from_submitted(&fields);
    let zone: chrono_tz::Tz = context
        .signed_in
        .as_ref()
        .and_then(|s| s.agent.time_zone.parse().ok())
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let ordered_at =
        chrono::NaiveDateTime::parse_from_str(field(&fields, "ordered_at"), "%Y-%m-%dT%H:%M")
            .ok()
            .and_then(|local| local.and_local_timezone(zone).earliest())
            .map(|at| at.with_timezone(&chrono::Utc));
    let Some(ordered_at) = ordered_at else {
        form.set_error(
            "ordered_at",
            context.locale.t("reasons.bad_date").to_owned(),
        );
        return profile_page(
            &state,
            &context,
            id,
            None,
            None,
            form,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let input = OrderInput {
        ordered_at,
        amount: serde_json::Value::String(field(&fields, "amount").to_owned()),
        currency: optional(&fields, "currency"),
        product: field(&fields, "product").to_owned(),
        channel: optional(&fields, "channel"),
        external_id: None,
    };
    match customers::add_order(&state.app, &caller, id, input).await {
        Ok(_) => Redirect::to(&format!("/customers/{id}?order=1")).into_response(),
        Err(error) => match form.absorb(context.locale, error) {
            Ok(()) => {
                profile_page(
                    &state,
                    &context,
                    id,
                    None,
                    None,
                    form,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
            Err(other) => failure(&context, other),
        },
    }
}

// ---------------------------------------------------------------- organizations

#[derive(Template)]
#[template(path = "organizations.html")]
struct OrganizationsPage {
    shell: Shell,
    q: String,
    rows: Vec<OrganizationRow>,
    next_link: Option<String>,
    can_create: bool,
    form: FormState,
    sizes: Vec<Choice>,
}

struct OrganizationRow {
    id: i64,
    name: String,
    region: String,
    industry: String,
    size_key: String,
    customers: i64,
}

async fn organizations_page(
    state: &AppState,
    context: &PageContext,
    params: &Fields,
    form: FormState,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let q = field(params, "q").trim().to_owned();
    let page = match PageRequest::parse(params.get("cursor").map(String::as_str), Some(50)) {
        Ok(p) => p,
        Err(e) => return failure(context, e),
    };
    let result = match customers::list_organizations(&state.app, caller, Some(&q), page).await {
        Ok(r) => r,
        Err(e) => return failure(context, e),
    };
    let rows = result
        .items
        .into_iter()
        .map(|o| OrganizationRow {
            id: o.organization.id,
            size_key: format!("company_sizes.{}", o.organization.company_size.as_str()),
            name: o.organization.name,
            region: o.organization.region,
            industry: o.organization.industry,
            customers: o.customer_count,
        })
        .collect();
    let next_link = result
        .next_cursor
        .map(|c| format!("/organizations?q={}&cursor={c}", url_escape(&q)));
    let page = render(&OrganizationsPage {
        shell: context.shell("customers"),
        q,
        rows,
        next_link,
        can_create: allows(context, Permission::ManageCustomers),
        form,
        sizes: size_choices(),
    });
    (status, page).into_response()
}

/// `GET /organizations`.
pub async fn organizations(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    organizations_page(
        &state,
        &context,
        &params,
        FormState::with_values(&[("company_size", "unknown")]),
        StatusCode::OK,
    )
    .await
}

fn organization_input(fields: &Fields, version: Option<i64>) -> OrganizationInput {
    OrganizationInput {
        version,
        name: field(fields, "name").to_owned(),
        region: optional(fields, "region"),
        industry: optional(fields, "industry"),
        company_size: optional(fields, "company_size"),
        notes: optional(fields, "notes"),
        external_id: optional(fields, "external_id"),
        // An unticked box is absent from the form: the page always says.
        portal_shared: Some(field(fields, "portal_shared") == "1"),
    }
}

/// `POST /organizations`.
pub async fn create_organization(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match customers::create_organization(&state.app, &caller, organization_input(&fields, None))
        .await
    {
        Ok(org) => Redirect::to(&format!("/organizations/{}?created=1", org.id)).into_response(),
        Err(error) => {
            let mut form = FormState::from_submitted(&fields);
            match form.absorb(context.locale, error) {
                Ok(()) => {
                    organizations_page(
                        &state,
                        &context,
                        &Fields::new(),
                        form,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await
                }
                Err(other) => failure(&context, other),
            }
        }
    }
}

#[derive(Template)]
#[template(path = "organization.html")]
struct OrganizationPage {
    shell: Shell,
    notice: Option<&'static str>,
    id: i64,
    name: String,
    customers: i64,
    can_edit: bool,
    form: FormState,
    sizes: Vec<Choice>,
}

async fn organization_page(
    state: &AppState,
    context: &PageContext,
    id: i64,
    notice: Option<&'static str>,
    form: Option<FormState>,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let view = match customers::get_organization(&state.app, caller, id).await {
        Ok(v) => v,
        Err(e) => return failure(context, e),
    };
    let o = &view.organization;
    let form = form.unwrap_or_else(|| {
        FormState::with_values(&[
            ("id", &o.id.to_string()),
            ("version", &o.version.to_string()),
            ("name", &o.name),
            ("region", &o.region),
            ("industry", &o.industry),
            ("company_size", o.company_size.as_str()),
            ("notes", &o.notes),
            ("external_id", o.external_id.as_deref().unwrap_or("")),
            ("portal_shared", if o.portal_shared { "1" } else { "" }),
        ])
    });
    let page = render(&OrganizationPage {
        shell: context.shell("customers"),
        notice,
        id,
        name: o.name.clone(),
        customers: view.customer_count,
        can_edit: allows(context, Permission::ManageCustomers),
        form,
        sizes: size_choices(),
    });
    (status, page).into_response()
}

/// `GET /organizations/{id}`.
pub async fn organization(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Query(params): Query<Fields>,
) -> Response {
    let notice = if params.contains_key("created") {
        Some(context.locale.t("organizations.created_notice"))
    } else if params.contains_key("saved") {
        Some(context.locale.t("organizations.saved_notice"))
    } else {
        None
    };
    organization_page(&state, &context, id, notice, None, StatusCode::OK).await
}

/// `POST /organizations/{id}`.
pub async fn save_organization(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let version = field(&fields, "version").parse::<i64>().ok();
    match customers::update_organization(
        &state.app,
        &caller,
        id,
        organization_input(&fields, version),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/organizations/{id}?saved=1")).into_response(),
        Err(error) => {
            let mut form = FormState::from_submitted(&fields);
            let status = if matches!(error, AppError::Conflict { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            match form.absorb(context.locale, error) {
                Ok(()) => organization_page(&state, &context, id, None, Some(form), status).await,
                Err(other) => failure(&context, other),
            }
        }
    }
}

// ---------------------------------------------------------------- duplicates

#[derive(Template)]
#[template(path = "duplicates.html")]
struct DuplicatesPage {
    shell: Shell,
    notice: Option<String>,
    groups: Vec<DuplicateGroupRow>,
}

struct DuplicateGroupRow {
    reason_key: String,
    key: String,
    members: Vec<DuplicateMember>,
}

struct DuplicateMember {
    id: i64,
    version: i64,
    name: String,
    contacts: String,
    organization: String,
    created: String,
    completeness: u8,
}

async fn duplicates_page(
    state: &AppState,
    context: &PageContext,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let groups = match customers::duplicates(&state.app, caller).await {
        Ok(g) => g,
        Err(e) => return failure(context, e),
    };
    let groups = groups
        .into_iter()
        .map(|g| DuplicateGroupRow {
            reason_key: format!("duplicates.reason_{}", g.reason),
            key: if g.reason == "phone" && !g.key.contains('*') {
                display_phone(&g.key)
            } else {
                g.key
            },
            members: g
                .customers
                .into_iter()
                .map(|c| DuplicateMember {
                    id: c.customer.id,
                    version: c.customer.version,
                    contacts: c
                        .contact_points
                        .iter()
                        .map(|p| p.value.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                    organization: c.organization.map(|o| o.name).unwrap_or_default(),
                    created: context.time(c.customer.created_at),
                    completeness: c.completeness,
                    name: c.customer.name,
                })
                .collect(),
        })
        .collect();
    let page = render(&DuplicatesPage {
        shell: context.shell("customers"),
        notice,
        groups,
    });
    (status, page).into_response()
}

/// `GET /customers/duplicates`.
pub async fn duplicates(State(state): State<AppState>, context: PageContext) -> Response {
    duplicates_page(&state, &context, None, StatusCode::OK).await
}

/// `POST /customers/merge`: the form names the survivor (`survivor` =
/// `id:version`) and the duplicate (`duplicate` = `id:version`).
pub async fn merge(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let pair = |name: &str| {
        field(&fields, name)
            .split_once(':')
            .and_then(|(id, v)| Some((id.parse::<i64>().ok()?, v.parse::<i64>().ok()?)))
    };
    let (Some(survivor), Some(duplicate)) = (pair("survivor"), pair("duplicate")) else {
        let notice = context.locale.t("duplicates.choose").to_owned();
        return duplicates_page(
            &state,
            &context,
            Some(notice),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let input = MergeInput {
        survivor_id: survivor.0,
        survivor_version: survivor.1,
        duplicate_id: duplicate.0,
        duplicate_version: duplicate.1,
    };
    match customers::merge_customers(&state.app, &caller, &input).await {
        Ok(view) => {
            Redirect::to(&format!("/customers/{}?merged=1", view.customer.id)).into_response()
        }
        Err(AppError::Conflict { .. }) => {
            let notice = context.locale.t("errors.conflict").to_owned();
            duplicates_page(&state, &context, Some(notice), StatusCode::CONFLICT).await
        }
        Err(AppError::Validation { field, reason }) => {
            let notice = format!("{field}: {}", context.locale.reason(&reason));
            duplicates_page(
                &state,
                &context,
                Some(notice),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(other) => failure(&context, other),
    }
}

// ---------------------------------------------------------------- import and export

/// `GET /customers/export?format=csv|xlsx&…filters`: the filtered list as
/// a file (audited).
pub async fn export_list(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let query = CustomerQuery {
        cursor: None,
        limit: None,
        format: filled(&params, "format"),
        ..list_query(&params)
    };
    match crate::api::customers::export_response(&state, &caller, query.format.as_deref(), &query)
        .await
    {
        Ok(response) => response,
        Err(e) => failure(&context, e),
    }
}

#[derive(Template)]
#[template(path = "customer_import.html")]
struct ImportPage {
    shell: Shell,
    error: Option<String>,
    upload: Option<UploadView>,
    report: Option<ReportView>,
    fields: Vec<FieldOption>,
    running: Option<RunningView>,
}

/// A running import's progress, as its page shows it: each row is
/// checked, then written, so the bar has two steps a row.
struct RunningView {
    steps: usize,
    done: usize,
    checked_text: String,
    written_text: String,
}

impl RunningView {
    fn of(context: &PageContext, progress: &kefu_app::import::ImportProgress) -> RunningView {
        let (rows, checked, written) = (progress.rows(), progress.checked(), progress.written());
        let count = |key: &str, done: usize| {
            context
                .locale
                .tf(key, &[("done", &grouped(done)), ("total", &grouped(rows))])
        };
        RunningView {
            steps: rows * 2,
            done: checked + written,
            checked_text: count("import.checked", checked),
            written_text: count("import.written", written),
        }
    }
}

/// A count with thousands separated by commas, as both languages write it.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A field a column can be mapped to, labelled in the page's language.
struct FieldOption {
    code: String,
    label: String,
}

struct UploadView {
    id: i64,
    file_name: String,
    rows: usize,
    columns: Vec<ColumnView>,
}

struct ColumnView {
    index: usize,
    header: String,
    samples: String,
    selected: String,
}

struct ReportView {
    committed: bool,
    created: usize,
    updated: usize,
    organizations_created: usize,
    errors: Vec<kefu_app::import::RowError>,
    more_errors: usize,
}

fn field_options(
    context: &PageContext,
    custom: &[kefu_store::custom_fields::CustomField],
) -> Vec<FieldOption> {
    let mut options: Vec<FieldOption> = kefu_app::import::ImportField::ALL
        .iter()
        .map(|f| FieldOption {
            code: f.as_str().to_owned(),
            label: context
                .locale
                .t(&format!("import.field_{}", f.as_str()))
                .to_owned(),
        })
        .collect();
    options.extend(custom.iter().filter(|f| f.active).map(|f| FieldOption {
        code: format!("custom:{}", f.key),
        label: match context.locale {
            crate::i18n::Locale::ZhCn => f.label_zh.clone(),
            crate::i18n::Locale::En => f.label_en.clone(),
        },
    }));
    options
}

fn report_view(report: kefu_app::import::ImportReport) -> ReportView {
    const SHOWN: usize = 200;
    let more_errors = report.errors.len().saturating_sub(SHOWN);
    let mut errors = report.errors;
    errors.truncate(SHOWN);
    ReportView {
        committed: report.committed,
        created: report.created,
        updated: report.updated,
        organizations_created: report.organizations_created,
        errors,
        more_errors,
    }
}

fn render_import(
    context: &PageContext,
    error: Option<String>,
    upload: Option<UploadView>,
    report: Option<ReportView>,
    fields: Vec<FieldOption>,
    status: StatusCode,
) -> Response {
    let page = render(&ImportPage {
        shell: context.shell("customers"),
        error,
        upload,
        report,
        fields,
        running: None,
    });
    (status, page).into_response()
}

/// `GET /customers/import`: choose a file.
pub async fn import_form(context: PageContext) -> Response {
    render_import(&context, None, None, None, Vec::new(), StatusCode::OK)
}

/// `POST /customers/import` (multipart): keep the file and go to mapping.
pub async fn import_upload(
    State(state): State<AppState>,
    context: PageContext,
    mut multipart: axum::extract::Multipart,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(part)) if part.name() == Some("file") => {
                let name = part.file_name().unwrap_or("customers.csv").to_owned();
                match part.bytes().await {
                    Ok(bytes) => file = Some((name, bytes.to_vec())),
                    Err(e) => {
                        let text = context
                            .locale
                            .tf("import.unreadable", &[("reason", &e.to_string())]);
                        return render_import(
                            &context,
                            Some(text),
                            None,
                            None,
                            Vec::new(),
                            StatusCode::BAD_REQUEST,
                        );
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                let text = context
                    .locale
                    .tf("import.unreadable", &[("reason", &e.to_string())]);
                return render_import(
                    &context,
                    Some(text),
                    None,
                    None,
                    Vec::new(),
                    StatusCode::BAD_REQUEST,
                );
            }
        }
    }
    let Some((name, bytes)) = file else {
        let text = context.locale.t("import.choose_file").to_owned();
        return render_import(
            &context,
            Some(text),
            None,
            None,
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    };
    match kefu_app::import::upload(&state.app, &caller, &name, &bytes).await {
        Ok(id) => Redirect::to(&format!("/customers/import/{id}")).into_response(),
        Err(AppError::Validation { reason, .. }) => render_import(
            &context,
            Some(context.locale.reason(&reason)),
            None,
            None,
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => failure(&context, e),
    }
}

async fn import_step(
    state: &AppState,
    context: &PageContext,
    id: i64,
    mapping: Option<kefu_app::import::Mapping>,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let mapping = match mapping {
        Some(m) => m,
        None => match kefu_app::import::uploaded(&state.app, &caller, id).await {
            Ok(u) => u.guessed,
            Err(e) => return failure(context, e),
        },
    };
    let report =
        match kefu_app::import::import_upload(&state.app, &caller, id, &mapping, true).await {
            Ok(r) => r,
            Err(e) => return failure(context, e),
        };
    import_report_page(state, context, &caller, id, &mapping, report, false).await
}

/// The import page for a report: the result once committed, else the
/// mapping again with every problem the report lists.
async fn import_report_page(
    state: &AppState,
    context: &PageContext,
    caller: &kefu_app::Caller,
    id: i64,
    mapping: &kefu_app::import::Mapping,
    report: kefu_app::import::ImportReport,
    commit: bool,
) -> Response {
    let custom =
        match kefu_app::custom_fields::list_fields(&state.app, caller, Some(FieldTarget::Customer))
            .await
        {
            Ok(f) => f,
            Err(e) => return failure(context, e),
        };
    let options = field_options(context, &custom);
    if report.committed {
        return render_import(
            context,
            None,
            None,
            Some(report_view(report)),
            options,
            StatusCode::OK,
        );
    }
    let upload = match kefu_app::import::uploaded(&state.app, caller, id).await {
        Ok(u) => u,
        Err(e) => return failure(context, e),
    };
    let status = if commit {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let columns = upload
        .table
        .headers
        .iter()
        .enumerate()
        .map(|(index, header)| ColumnView {
            index,
            header: header.clone(),
            samples: upload
                .table
                .rows
                .iter()
                .take(3)
                .filter_map(|r| r.get(index))
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(" · "),
            selected: mapping
                .get(index)
                .cloned()
                .flatten()
                .map_or_else(String::new, |t| t.code()),
        })
        .collect();
    let view = UploadView {
        id,
        file_name: upload.file_name,
        rows: upload.table.rows.len(),
        columns,
    };
    render_import(
        context,
        None,
        Some(view),
        Some(report_view(report)),
        options,
        status,
    )
}

/// `GET /customers/import/{id}/progress`: an import running in the
/// background, refreshing itself each second, then its result.
pub async fn import_progress(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let Some(job) = kefu_app::import::import_job(&state.app, &caller, id) else {
        // Not running here (another instance, or a restart): the upload
        // page says what is left of it.
        return Redirect::to(&format!("/customers/import/{id}")).into_response();
    };
    match job.outcome() {
        Some(Ok(report)) => {
            import_report_page(&state, &context, &caller, id, &job.mapping, report, true).await
        }
        Some(Err(e)) => failure(&context, e),
        None => {
            let running = RunningView::of(&context, &job.progress);
            let page = render(&ImportPage {
                shell: context.shell("customers"),
                error: None,
                upload: None,
                report: None,
                fields: Vec::new(),
                running: Some(running),
            });
            (StatusCode::OK, page).into_response()
        }
    }
}

/// `GET /customers/import/{id}`: the guessed mapping and its dry run.
pub async fn import_review(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    import_step(&state, &context, id, None).await
}

/// `POST /customers/import/{id}`: check again with the chosen mapping
/// (`action=check`) or import every row (`action=commit`).
pub async fn import_run(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let mut codes: Vec<(usize, String)> = fields
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("map_")
                .and_then(|i| i.parse::<usize>().ok())
                .map(|i| (i, v.clone()))
        })
        .collect();
    codes.sort();
    let mut list = Vec::new();
    for (i, code) in codes {
        list.resize(i, String::new());
        list.push(code);
    }
    let Some(caller) = context.signed_in.as_ref().map(|s| s.caller.clone()) else {
        return failure(&context, AppError::Unauthenticated);
    };
    let custom = match kefu_app::custom_fields::list_fields(
        &state.app,
        &caller,
        Some(FieldTarget::Customer),
    )
    .await
    {
        Ok(f) => f,
        Err(e) => return failure(&context, e),
    };
    let mapping = match kefu_app::import::mapping_from_codes(&list, &custom) {
        Ok(m) => m,
        Err(e) => return failure(&context, e),
    };
    let commit = fields.iter().any(|(k, v)| k == "action" && v == "commit");
    if !commit {
        return import_step(&state, &context, id, Some(mapping)).await;
    }
    // Large files take seconds: the rows are written in the background
    // while the progress page follows them.
    match kefu_app::import::start_import(&state.app, &caller, id, mapping).await {
        Ok(_) => Redirect::to(&format!("/customers/import/{id}/progress")).into_response(),
        Err(e) => failure(&context, e),
    }
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(6_000), "6,000");
        assert_eq!(grouped(100_000), "100,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
