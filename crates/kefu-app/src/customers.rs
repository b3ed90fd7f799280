//! The customer archive (客户档案): customers, organizations and orders;
//! the one identity lookup; the 360° view; masking, reveal, export and
//! erasure of personal data.

use crate::audit::record_change;
use crate::directory::double_option;
use crate::page::{Page, PageRequest};
use crate::{App, AppError, Caller};
use chrono::{DateTime, NaiveDate, Utc};
use kefu_domain::Permission;
use kefu_domain::audit::Action;
use kefu_domain::custom_field::FieldTarget;
use kefu_domain::customer::{self as rules, CompanySize, ContactKind, Gender, Grade, ProfileFacts};
use kefu_domain::validate;
use kefu_store::customers::{self, After, ContactPoint, Customer, CustomerFields, Filter, Sort};
use kefu_store::orders::{self, NewOrder, Order, Totals};
use kefu_store::organizations::{self, Organization, OrganizationFields};
use kefu_store::{Conn, StoreError, Tx, audit as audit_log};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A contact point as the API and forms send it.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// `phone`, `email`, `wechat` or `external`.
    pub kind: String,
    /// The value as typed; phones in any common way of writing them.
    pub value: String,
    /// An optional label (家庭, work…).
    #[serde(default)]
    pub label: String,
}

/// Input to create a customer.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// Full name.
    pub name: String,
    /// `unknown`, `female`, `male` or `other`.
    #[serde(default)]
    pub gender: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub birthday: Option<String>,
    /// `zh-CN` or `en`; default: the company's.
    #[serde(default)]
    pub language: Option<String>,
    /// IANA zone; default: the company's.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// The organization the customer belongs to.
    #[serde(default)]
    pub organization_id: Option<i64>,
    /// Province.
    #[serde(default)]
    pub province: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// District.
    #[serde(default)]
    pub district: Option<String>,
    /// Street and number.
    #[serde(default)]
    pub street: Option<String>,
    /// Classification: region.
    #[serde(default)]
    pub region: Option<String>,
    /// Classification: industry.
    #[serde(default)]
    pub industry: Option<String>,
    /// Classification: `unknown`, `micro`, `small`, `medium`, `large`.
    #[serde(default)]
    pub company_size: Option<String>,
    /// Grade: `vip`, `a`, `b`, `c` (default `c`).
    #[serde(default)]
    pub grade: Option<String>,
    /// Needs and preferences.
    #[serde(default)]
    pub notes: Option<String>,
    /// Id in another system.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Contact points.
    #[serde(default)]
    pub contact_points: Vec<ContactInput>,
    /// Custom field values by key.
    #[serde(default)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// Input to change a customer: the version read, and only the fields to
/// change; `null` clears a clearable field.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerChanges {
    /// The version the editor read; a stale one gets a conflict.
    pub version: i64,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Gender.
    #[serde(default)]
    pub gender: Option<String>,
    /// Birthday; `null` clears it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<String>")]
    pub birthday: Option<Option<String>>,
    /// Language.
    #[serde(default)]
    pub language: Option<String>,
    /// Time zone.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Organization; `null` removes the customer from it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<i64>")]
    pub organization_id: Option<Option<i64>>,
    /// Province.
    #[serde(default)]
    pub province: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// District.
    #[serde(default)]
    pub district: Option<String>,
    /// Street.
    #[serde(default)]
    pub street: Option<String>,
    /// Region.
    #[serde(default)]
    pub region: Option<String>,
    /// Industry.
    #[serde(default)]
    pub industry: Option<String>,
    /// Company size.
    #[serde(default)]
    pub company_size: Option<String>,
    /// Grade.
    #[serde(default)]
    pub grade: Option<String>,
    /// Needs and preferences.
    #[serde(default)]
    pub notes: Option<String>,
    /// External id; `null` clears it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<String>")]
    pub external_id: Option<Option<String>>,
    /// Tags (replace the old ones).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Contact points (replace the old ones).
    #[serde(default)]
    pub contact_points: Option<Vec<ContactInput>>,
    /// Custom field values by key; keys not sent keep their values, `null` clears one.
    #[serde(default)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A contact point as shown to the caller.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ContactView {
    /// Kind.
    pub kind: ContactKind,
    /// The stored value, or its masked form.
    pub value: String,
    /// Label.
    pub label: String,
    /// Whether `value` is masked.
    pub masked: bool,
}

/// The organization a customer belongs to, by name.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct OrganizationRef {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A customer as the API answers and the pages show it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CustomerView {
    /// The record.
    #[serde(flatten)]
    pub customer: Customer,
    /// The organization.
    pub organization: Option<OrganizationRef>,
    /// Contact points, masked unless the caller may see personal data.
    pub contact_points: Vec<ContactView>,
    /// Tags.
    pub tags: Vec<String>,
    /// Completeness score, 0–100.
    pub completeness: u8,
    /// Custom field values by key (active fields; null when empty).
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// The audit log's copy of a customer: contact values and the birthday
/// masked, so the append-only log never becomes a second, unerasable copy
/// of personal data.
#[derive(Serialize, schemars::JsonSchema)]
struct AuditSnapshot<'a> {
    #[serde(flatten)]
    customer: &'a Customer,
    birthday: Option<&'static str>,
    street: String,
    contact_points: Vec<String>,
    tags: &'a [String],
}

impl<'a> AuditSnapshot<'a> {
    fn of(customer: &'a Customer, points: &[ContactPoint], tags: &'a [String]) -> Self {
        AuditSnapshot {
            customer,
            birthday: customer.birthday.map(|_| "****-**-**"),
            street: mask_text(&customer.street),
            contact_points: points
                .iter()
                .map(|p| format!("{}:{}", p.kind, rules::mask(p.kind, &p.value)))
                .collect(),
            tags,
        }
    }
}

fn mask_text(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        "****".to_owned()
    }
}

fn contact_views(points: Vec<ContactPoint>, unmasked: bool) -> Vec<ContactView> {
    points
        .into_iter()
        .map(|p| ContactView {
            value: if unmasked {
                p.value
            } else {
                rules::mask(p.kind, &p.value)
            },
            kind: p.kind,
            label: p.label,
            masked: !unmasked,
        })
        .collect()
}

fn facts(customer: &Customer, points: &[ContactPoint], tags: &[String]) -> ProfileFacts {
    ProfileFacts {
        gender: customer.gender != Gender::Unknown,
        birthday: customer.birthday.is_some(),
        phone: points.iter().any(|p| p.kind == ContactKind::Phone),
        email: points.iter().any(|p| p.kind == ContactKind::Email),
        address: !customer.province.is_empty() && !customer.city.is_empty(),
        region: !customer.region.is_empty(),
        industry: !customer.industry.is_empty(),
        notes: !customer.notes.is_empty(),
        tags: !tags.is_empty(),
    }
}

async fn load_view(
    conn: &mut Conn<'_>,
    id: i64,
    unmasked: bool,
) -> Result<(CustomerView, Vec<ContactPoint>), AppError> {
    let customer = customers::get(conn, id).await?;
    let points = customers::contact_points(conn, id).await?;
    let tags = customers::tags(conn, id).await?;
    let organization = match customer.organization_id {
        Some(org) => {
            let o = organizations::get(conn, org).await?;
            Some(OrganizationRef {
                id: o.id,
                name: o.name,
            })
        }
        None => None,
    };
    let completeness = rules::completeness(&facts(&customer, &points, &tags));
    let fields = kefu_store::custom_fields::all(conn, FieldTarget::Customer).await?;
    let values: Vec<(i64, String)> =
        kefu_store::custom_fields::values_of(conn, FieldTarget::Customer, &[id])
            .await?
            .into_iter()
            .map(|(_, field, value)| (field, value))
            .collect();
    let custom_fields = crate::custom_fields::values_json(&fields, &values);
    Ok((
        CustomerView {
            customer,
            organization,
            contact_points: contact_views(points.clone(), unmasked),
            tags,
            completeness,
            custom_fields,
        },
        points,
    ))
}

fn trimmed(value: Option<&String>, field: &str, max: usize) -> Result<String, AppError> {
    let text = value.map(|v| v.trim()).unwrap_or("");
    if text.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(text.to_owned())
}

fn external_id(value: Option<&String>) -> Result<Option<String>, AppError> {
    let text = trimmed(value, "external_id", 100)?;
    Ok(Some(text).filter(|t| !t.is_empty()))
}

fn birthday(text: Option<&String>) -> Result<Option<NaiveDate>, AppError> {
    match text.map(|t| t.trim()).filter(|t| !t.is_empty()) {
        Some(t) => Ok(Some(rules::birthday(
            "birthday",
            t,
            Utc::now().date_naive(),
        )?)),
        None => Ok(None),
    }
}

fn contact_points(inputs: &[ContactInput]) -> Result<Vec<ContactPoint>, AppError> {
    if inputs.len() > 20 {
        return Err(AppError::invalid(
            "contact_points",
            "must be at most 20 contact points",
        ));
    }
    let mut out: Vec<ContactPoint> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let kind = ContactKind::parse_field(&format!("contact_points[{i}].kind"), &input.kind)?;
        let value =
            rules::normalize_contact(&format!("contact_points[{i}].value"), kind, &input.value)?;
        let label = trimmed(
            Some(&input.label),
            &format!("contact_points[{i}].label"),
            40,
        )?;
        if !out.iter().any(|p| p.kind == kind && p.value == value) {
            out.push(ContactPoint { kind, value, label });
        }
    }
    Ok(out)
}

async fn check_organization(conn: &mut Conn<'_>, id: Option<i64>) -> Result<(), AppError> {
    if let Some(id) = id {
        match organizations::get(conn, id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                return Err(AppError::invalid(
                    "organization_id",
                    format!("organization {id} does not exist"),
                ));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

/// Creates a customer (agents, technical support, managers, admins).
pub async fn create_customer(
    app: &App,
    caller: &Caller,
    input: NewCustomer,
) -> Result<CustomerView, AppError> {
    caller.require(Permission::ManageCustomers)?;
    let mut tx = app.store.write().await?;
    let id = create_customer_in(&mut tx, caller, &input).await?;
    let (view, _) = load_view(
        &mut tx.conn(),
        id,
        caller.role.allows(Permission::ViewPersonalData),
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

/// Where a new customer's language and time zone come from when not given.
pub(crate) struct Defaults {
    language: String,
    time_zone: String,
}

impl Defaults {
    /// The company's defaults, or Chinese in Shanghai before the company is set up.
    pub(crate) fn of(company: Option<&kefu_store::company::Company>) -> Defaults {
        Defaults {
            language: company.map_or_else(|| "zh-CN".to_owned(), |c| c.default_language.clone()),
            time_zone: company.map_or_else(|| "Asia/Shanghai".to_owned(), |c| c.time_zone.clone()),
        }
    }
}

/// A new customer's input, checked and normalised, ready to store.
pub(crate) struct CheckedCustomer {
    /// The record's fields.
    pub(crate) fields: CustomerFields,
    /// Contact points, normalised, without repeats.
    pub(crate) points: Vec<ContactPoint>,
    /// Tags.
    pub(crate) tags: Vec<String>,
    /// Custom field values as (field id, value).
    pub(crate) custom_values: Vec<(i64, String)>,
}

/// Checks a new customer's input with the archive's rules; the first
/// problem is returned with the field it is about.
pub(crate) fn check_new_customer(
    input: &NewCustomer,
    defaults: &Defaults,
    fields_defined: &[kefu_store::custom_fields::CustomField],
    today: NaiveDate,
) -> Result<CheckedCustomer, AppError> {
    let fields = CustomerFields {
        name: validate::name("name", &input.name, 100)?,
        gender: match &input.gender {
            Some(g) if !g.trim().is_empty() => Gender::parse_field("gender", g)?,
            _ => Gender::Unknown,
        },
        birthday: match input
            .birthday
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            Some(t) => Some(rules::birthday("birthday", t, today)?),
            None => None,
        },
        language: match &input.language {
            Some(l) => validate::language("language", l)?,
            None => defaults.language.clone(),
        },
        time_zone: match &input.time_zone {
            Some(z) => validate::time_zone("time_zone", z)?,
            None => defaults.time_zone.clone(),
        },
        organization_id: input.organization_id,
        province: trimmed(input.province.as_ref(), "province", 40)?,
        city: trimmed(input.city.as_ref(), "city", 40)?,
        district: trimmed(input.district.as_ref(), "district", 40)?,
        street: trimmed(input.street.as_ref(), "street", 200)?,
        region: trimmed(input.region.as_ref(), "region", 40)?,
        industry: trimmed(input.industry.as_ref(), "industry", 60)?,
        company_size: match &input.company_size {
            Some(s) if !s.trim().is_empty() => CompanySize::parse_field("company_size", s)?,
            _ => CompanySize::Unknown,
        },
        grade: match &input.grade {
            Some(g) if !g.trim().is_empty() => Grade::parse_field("grade", g)?,
            _ => Grade::C,
        },
        notes: trimmed(input.notes.as_ref(), "notes", 4000)?,
        external_id: external_id(input.external_id.as_ref())?,
    };
    Ok(CheckedCustomer {
        fields,
        points: contact_points(&input.contact_points)?,
        tags: rules::tags("tags", &input.tags)?,
        custom_values: crate::custom_fields::check_values(
            fields_defined,
            &input.custom_fields,
            &[],
            crate::custom_fields::Requirement::Enforced,
        )?,
    })
}

/// Creates a customer inside a transaction the caller commits; returns its id.
pub(crate) async fn create_customer_in(
    tx: &mut Tx,
    caller: &Caller,
    input: &NewCustomer,
) -> Result<i64, AppError> {
    caller.require(Permission::ManageCustomers)?;
    let company = kefu_store::company::get(&mut tx.conn()).await?;
    let fields_defined =
        kefu_store::custom_fields::all(&mut tx.conn(), FieldTarget::Customer).await?;
    let checked = check_new_customer(
        input,
        &Defaults::of(company.as_ref()),
        &fields_defined,
        Utc::now().date_naive(),
    )?;
    check_organization(&mut tx.conn(), checked.fields.organization_id).await?;
    store_new_customer(tx, caller, &checked).await
}

/// Writes a checked new customer with its audit record; returns its id.
pub(crate) async fn store_new_customer(
    tx: &mut Tx,
    caller: &Caller,
    checked: &CheckedCustomer,
) -> Result<i64, AppError> {
    let customer = customers::insert(&mut tx.conn(), &checked.fields).await?;
    customers::add_contact_points(&mut tx.conn(), customer.id, &checked.points).await?;
    customers::add_tags(&mut tx.conn(), customer.id, &checked.tags).await?;
    if !checked.custom_values.is_empty() {
        crate::custom_fields::replace_values(
            tx,
            caller,
            FieldTarget::Customer,
            customer.id,
            Action::Create,
            &[],
            &checked.custom_values,
        )
        .await?;
    }
    record_customer_change(
        tx,
        caller,
        Action::Create,
        None,
        (&customer, &checked.points, &checked.tags),
    )
    .await?;
    Ok(customer.id)
}

/// Writes many new customers (an import) with a few statements per 500
/// rows, each with its audit records; returns how many were written.
pub(crate) async fn store_new_customers(
    tx: &mut Tx,
    caller: &Caller,
    checked: &[CheckedCustomer],
) -> Result<usize, AppError> {
    let fields: Vec<CustomerFields> = checked.iter().map(|c| c.fields.clone()).collect();
    let created = customers::insert_many(&mut tx.conn(), &fields).await?;
    let defined = kefu_store::custom_fields::all(&mut tx.conn(), FieldTarget::Customer).await?;
    let mut points = Vec::new();
    let mut tags = Vec::new();
    let mut values = Vec::new();
    let mut changes = Vec::with_capacity(created.len());
    for (customer, input) in created.iter().zip(checked) {
        points.extend(input.points.iter().map(|p| (customer.id, p.clone())));
        tags.extend(input.tags.iter().map(|t| (customer.id, t.clone())));
        values.extend(
            input
                .custom_values
                .iter()
                .map(|(field, value)| (customer.id, *field, value.clone())),
        );
        let snapshot =
            serde_json::to_value(AuditSnapshot::of(customer, &input.points, &input.tags))
                .map_err(|e| AppError::Internal(e.to_string()))?;
        let mut diff = kefu_domain::audit::creation(
            &snapshot,
            &[
                "version",
                "created_at",
                "updated_at",
                "erased_at",
                "merged_into_id",
            ],
        );
        diff.extend(crate::custom_fields::value_changes(
            &defined,
            &[],
            &input.custom_values,
        ));
        changes.push((customer.id, diff));
    }
    customers::add_contact_points_many(&mut tx.conn(), &points).await?;
    customers::add_tags_many(&mut tx.conn(), &tags).await?;
    kefu_store::custom_fields::add_values_many(&mut tx.conn(), FieldTarget::Customer, &values)
        .await?;
    let entries: Vec<audit_log::Entry<'_>> = changes
        .into_iter()
        .map(|(id, changes)| audit_log::Entry {
            actor: &caller.actor,
            source: caller.source,
            entity: "customer",
            entity_id: id,
            action: Action::Create,
            changes,
        })
        .collect();
    audit_log::append_many(&mut tx.conn(), &entries).await?;
    Ok(created.len())
}

/// A customer with its contact points and tags, as the audit log records it.
pub(crate) type CustomerState<'a> = (&'a Customer, &'a [ContactPoint], &'a [String]);

/// Records a change to a customer in the audit log, personal data masked.
pub(crate) async fn record_customer_change(
    tx: &mut Tx,
    caller: &Caller,
    action: Action,
    before: Option<CustomerState<'_>>,
    after: CustomerState<'_>,
) -> Result<(), AppError> {
    let new = AuditSnapshot::of(after.0, after.1, after.2);
    match before {
        Some((c, p, t)) => {
            let old = AuditSnapshot::of(c, p, t);
            record_change(tx, caller, "customer", after.0.id, action, &old, &new).await
        }
        None => record_change(tx, caller, "customer", after.0.id, action, &(), &new).await,
    }
}

/// One customer, masked unless the caller may see personal data.
pub async fn get_customer(app: &App, caller: &Caller, id: i64) -> Result<CustomerView, AppError> {
    caller.require(Permission::ViewCustomers)?;
    let mut reader = app.store.read().await?;
    let (view, _) = load_view(
        &mut reader.conn(),
        id,
        caller.role.allows(Permission::ViewPersonalData),
    )
    .await?;
    Ok(view)
}

/// Changes a customer if nobody else changed it since `changes.version`.
pub async fn update_customer(
    app: &App,
    caller: &Caller,
    id: i64,
    changes: CustomerChanges,
) -> Result<CustomerView, AppError> {
    caller.require(Permission::ManageCustomers)?;
    let mut tx = app.store.write().await?;
    let before = customers::get(&mut tx.conn(), id).await?;
    if before.version != changes.version {
        return Err(AppError::Conflict {
            current_version: before.version,
        });
    }
    if before.erased_at.is_some() {
        return Err(AppError::invalid(
            "version",
            "this customer's personal data was erased; the record can no longer be edited",
        ));
    }
    let old_points = customers::contact_points(&mut tx.conn(), id).await?;
    let old_tags = customers::tags(&mut tx.conn(), id).await?;
    let mut f = CustomerFields::of(&before);
    if let Some(v) = &changes.name {
        f.name = validate::name("name", v, 100)?;
    }
    if let Some(v) = &changes.gender {
        f.gender = Gender::parse_field("gender", v)?;
    }
    if let Some(v) = &changes.birthday {
        f.birthday = birthday(v.as_ref())?;
    }
    if let Some(v) = &changes.language {
        f.language = validate::language("language", v)?;
    }
    if let Some(v) = &changes.time_zone {
        f.time_zone = validate::time_zone("time_zone", v)?;
    }
    if let Some(v) = changes.organization_id {
        f.organization_id = v;
    }
    let text_fields: [(&Option<String>, &mut String, &str, usize); 7] = [
        (&changes.province, &mut f.province, "province", 40),
        (&changes.city, &mut f.city, "city", 40),
        (&changes.district, &mut f.district, "district", 40),
        (&changes.street, &mut f.street, "street", 200),
        (&changes.region, &mut f.region, "region", 40),
        (&changes.industry, &mut f.industry, "industry", 60),
        (&changes.notes, &mut f.notes, "notes", 4000),
    ];
    for (value, target, field, max) in text_fields {
        if let Some(v) = value {
            *target = trimmed(Some(v), field, max)?;
        }
    }
    if let Some(v) = &changes.company_size {
        f.company_size = CompanySize::parse_field("company_size", v)?;
    }
    if let Some(v) = &changes.grade {
        f.grade = Grade::parse_field("grade", v)?;
    }
    if let Some(v) = &changes.external_id {
        f.external_id = external_id(v.as_ref())?;
    }
    let points = match &changes.contact_points {
        Some(inputs) => contact_points(inputs)?,
        None => old_points.clone(),
    };
    let tags = match &changes.tags {
        Some(values) => rules::tags("tags", values)?,
        None => old_tags.clone(),
    };
    let fields_defined =
        kefu_store::custom_fields::all(&mut tx.conn(), FieldTarget::Customer).await?;
    let old_custom: Vec<(i64, String)> =
        kefu_store::custom_fields::values_of(&mut tx.conn(), FieldTarget::Customer, &[id])
            .await?
            .into_iter()
            .map(|(_, field, value)| (field, value))
            .collect();
    let custom = crate::custom_fields::check_values(
        &fields_defined,
        &changes.custom_fields.clone().unwrap_or_default(),
        &old_custom,
        crate::custom_fields::Requirement::Enforced,
    )?;
    check_organization(&mut tx.conn(), f.organization_id).await?;
    let after = customers::update(&mut tx.conn(), id, changes.version, &f).await?;
    if points != old_points {
        customers::set_contact_points(&mut tx.conn(), id, &points).await?;
    }
    if tags != old_tags {
        customers::set_tags(&mut tx.conn(), id, &tags).await?;
    }
    record_change(
        &mut tx,
        caller,
        "customer",
        id,
        Action::Update,
        &AuditSnapshot::of(&before, &old_points, &old_tags),
        &AuditSnapshot::of(&after, &points, &tags),
    )
    .await?;
    let mut sorted_custom = custom.clone();
    sorted_custom.sort();
    if sorted_custom != old_custom {
        crate::custom_fields::replace_values(
            &mut tx,
            caller,
            FieldTarget::Customer,
            id,
            Action::Update,
            &old_custom,
            &custom,
        )
        .await?;
    }
    let (view, _) = load_view(
        &mut tx.conn(),
        id,
        caller.role.allows(Permission::ViewPersonalData),
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

/// Shows one customer's contact points unmasked, and records that the
/// caller saw them.
pub async fn reveal_contacts(
    app: &App,
    caller: &Caller,
    id: i64,
) -> Result<Vec<ContactView>, AppError> {
    caller.require(Permission::RevealPersonalData)?;
    let mut tx = app.store.write().await?;
    customers::get(&mut tx.conn(), id).await?;
    let points = customers::contact_points(&mut tx.conn(), id).await?;
    audit_log::append(
        &mut tx.conn(),
        &audit_log::Entry {
            actor: &caller.actor,
            source: caller.source,
            entity: "customer",
            entity_id: id,
            action: Action::Read,
            changes: vec![kefu_domain::audit::FieldChange {
                field: "contact_points".into(),
                old: serde_json::Value::Null,
                new: serde_json::json!("revealed"),
            }],
        },
    )
    .await?;
    tx.commit().await?;
    Ok(contact_views(points, true))
}

/// The one identity lookup for every channel: the customer holding this
/// contact value (normalised first), or `None`.
pub async fn identify(
    conn: &mut Conn<'_>,
    kind: ContactKind,
    raw_value: &str,
) -> Result<Option<i64>, AppError> {
    let value = rules::normalize_contact("value", kind, raw_value)?;
    Ok(customers::find_by_contact(conn, kind, &value).await?)
}

/// Finds a customer by a contact value (`GET /customers/lookup`).
pub async fn lookup(
    app: &App,
    caller: &Caller,
    kind: &str,
    value: &str,
) -> Result<CustomerView, AppError> {
    caller.require(Permission::ViewCustomers)?;
    let kind = ContactKind::parse_field("kind", kind)?;
    let mut reader = app.store.read().await?;
    let id = identify(&mut reader.conn(), kind, value)
        .await?
        .ok_or(AppError::NotFound)?;
    let (view, _) = load_view(
        &mut reader.conn(),
        id,
        caller.role.allows(Permission::ViewPersonalData),
    )
    .await?;
    Ok(view)
}

/// The list parameters the API and the customers page receive.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// Name part, partial phone (4+ digits), or a whole email / WeChat id / external id.
    pub q: Option<String>,
    /// Organization id.
    pub organization_id: Option<i64>,
    /// Tag.
    pub tag: Option<String>,
    /// Grade.
    pub grade: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Company size.
    pub company_size: Option<String>,
    /// Only records not updated for this many months (to refresh).
    pub stale_months: Option<u32>,
    /// `newest` (default), `name` or `updated`.
    pub sort: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200.
    pub limit: Option<i64>,
    /// For exports: `csv` (default) or `xlsx`; lists ignore it.
    pub format: Option<String>,
    /// A custom field's key, to filter by its `value`.
    pub field: Option<String>,
    /// The value the custom field `field` must have.
    pub value: Option<String>,
}

/// A row of the customer list.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CustomerSummary {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Grade.
    pub grade: Grade,
    /// Organization name.
    pub organization: Option<OrganizationRef>,
    /// Region.
    pub region: String,
    /// City.
    pub city: String,
    /// First phone (masked unless allowed).
    pub phone: Option<String>,
    /// First email (masked unless allowed).
    pub email: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Completeness score.
    pub completeness: u8,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-locking version.
    pub version: i64,
}

fn blank(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn parse_sort(text: Option<&str>) -> Result<Sort, AppError> {
    match text.map(str::trim).unwrap_or("") {
        "" | "newest" => Ok(Sort::Newest),
        "name" => Ok(Sort::Name),
        "updated" => Ok(Sort::Updated),
        other => Err(AppError::invalid(
            "sort",
            format!("unknown sort {other:?}; valid: newest, name, updated"),
        )),
    }
}

fn parse_cursor(sort: Sort, cursor: Option<&str>) -> Result<After, AppError> {
    let bad = || AppError::invalid("cursor", "is not a cursor this API returned");
    let Some(text) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(After::Start);
    };
    let (id, rest) = text.split_once('.').unwrap_or((text, ""));
    let id: i64 = id.parse().map_err(|_| bad())?;
    match sort {
        Sort::Newest => Ok(After::Id(id)),
        // Cursors of earlier versions carried the name after the id.
        Sort::Name => Ok(After::Name(id)),
        Sort::Updated => DateTime::parse_from_rfc3339(rest)
            .map(|at| After::Updated(at.with_timezone(&Utc), id))
            .map_err(|_| bad()),
    }
}

fn cursor_of(sort: Sort, customer: &Customer) -> String {
    match sort {
        Sort::Newest => customer.id.to_string(),
        Sort::Name => customer.id.to_string(),
        Sort::Updated => format!(
            "{}.{}",
            customer.id,
            customer
                .updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ),
    }
}

/// Lists customers matching the query, a page at a time.
pub async fn list_customers(
    app: &App,
    caller: &Caller,
    query: &CustomerQuery,
) -> Result<Page<CustomerSummary>, AppError> {
    let page = list_full(app, caller, query).await?;
    let org_names = organization_names(app, page.items.iter().map(|(c, _, _)| c)).await?;
    let items = page
        .items
        .into_iter()
        .map(|(c, ps, ts)| {
            let completeness = rules::completeness(&facts(&c, &ps, &ts));
            CustomerSummary {
                phone: ps
                    .iter()
                    .find(|p| p.kind == ContactKind::Phone)
                    .map(|p| p.value.clone()),
                email: ps
                    .iter()
                    .find(|p| p.kind == ContactKind::Email)
                    .map(|p| p.value.clone()),
                organization: c.organization_id.and_then(|id| {
                    org_names.get(&id).map(|name| OrganizationRef {
                        id,
                        name: name.clone(),
                    })
                }),
                id: c.id,
                name: c.name,
                grade: c.grade,
                region: c.region,
                city: c.city,
                tags: ts,
                completeness,
                updated_at: c.updated_at,
                version: c.version,
            }
        })
        .collect();
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

/// The names of the organizations these customers belong to, in one query.
pub(crate) async fn organization_names<'a>(
    app: &App,
    customers: impl Iterator<Item = &'a Customer>,
) -> Result<BTreeMap<i64, String>, AppError> {
    let mut ids: Vec<i64> = customers.filter_map(|c| c.organization_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut reader = app.store.read().await?;
    Ok(organizations::names_of(&mut reader.conn(), &ids)
        .await?
        .into_iter()
        .collect())
}

/// A page of customers with their contact points (masked unless the
/// caller may see personal data) and tags.
pub(crate) async fn list_full(
    app: &App,
    caller: &Caller,
    query: &CustomerQuery,
) -> Result<Page<(Customer, Vec<ContactPoint>, Vec<String>)>, AppError> {
    caller.require(Permission::ViewCustomers)?;
    let page = PageRequest::parse(None, query.limit)?;
    let sort = parse_sort(query.sort.as_deref())?;
    let after = parse_cursor(sort, query.cursor.as_deref())?;
    let mut filter = Filter {
        organization_id: query.organization_id,
        tag: blank(&query.tag),
        grade: blank(&query.grade)
            .map(|g| Grade::parse_field("grade", &g))
            .transpose()?,
        region: blank(&query.region),
        industry: blank(&query.industry),
        company_size: blank(&query.company_size)
            .map(|s| CompanySize::parse_field("company_size", &s))
            .transpose()?,
        ..Filter::default()
    };
    if let Some(months) = query.stale_months {
        if !(1..=120).contains(&months) {
            return Err(AppError::invalid(
                "stale_months",
                "must be between 1 and 120",
            ));
        }
        filter.not_updated_since =
            Some(Utc::now() - chrono::Duration::days(i64::from(months) * 30));
    }
    if let Some(q) = blank(&query.q) {
        if let Some(digits) = rules::phone_search_digits(&q) {
            filter.phone_digits = Some(digits);
        } else if q.contains('@') {
            filter.contact_value = Some(q.to_lowercase());
        } else {
            // A name part, or a whole WeChat / external id.
            filter.name = Some(customers::name_key(&q));
        }
    }
    let mut reader = app.store.read().await?;
    if let Some(key) = blank(&query.field) {
        let fields =
            kefu_store::custom_fields::all(&mut reader.conn(), FieldTarget::Customer).await?;
        filter.custom = Some(crate::custom_fields::filter_of(
            &fields,
            &key,
            blank(&query.value).as_deref(),
        )?);
    }
    let mut rows = customers::search(
        &mut reader.conn(),
        &filter,
        sort,
        &after,
        page.fetch_limit(),
    )
    .await?;
    if rows.is_empty() && filter.name.take().is_some() {
        filter.contact_value = blank(&query.q);
        rows = customers::search(
            &mut reader.conn(),
            &filter,
            sort,
            &after,
            page.fetch_limit(),
        )
        .await?;
    }
    let more = rows.len() as i64 > page.limit;
    rows.truncate(page.limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|c| cursor_of(sort, c)))
        .flatten();
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let unmasked = caller.role.allows(Permission::ViewPersonalData);
    let mut points: BTreeMap<i64, Vec<ContactPoint>> = BTreeMap::new();
    for (id, mut p) in customers::contact_points_of(&mut reader.conn(), &ids).await? {
        if !unmasked {
            p.value = rules::mask(p.kind, &p.value);
        }
        points.entry(id).or_default().push(p);
    }
    let mut tags: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (id, t) in customers::tags_of(&mut reader.conn(), &ids).await? {
        tags.entry(id).or_default().push(t);
    }
    let items = rows
        .into_iter()
        .map(|c| {
            let ps = points.remove(&c.id).unwrap_or_default();
            let ts = tags.remove(&c.id).unwrap_or_default();
            (c, ps, ts)
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// One entry of a customer's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineEntry {
    /// A change to the record (from the audit log).
    Change {
        /// When.
        at: DateTime<Utc>,
        /// Who, as `kind:ref`.
        actor: String,
        /// `create`, `update`, `read`…
        action: String,
        /// The fields that changed.
        fields: Vec<String>,
    },
    /// An order.
    Order {
        /// When.
        at: DateTime<Utc>,
        /// The order.
        order: Order,
    },
    /// A work order the customer opened or an agent logged.
    Ticket {
        /// When it was opened.
        at: DateTime<Utc>,
        /// The ticket.
        ticket: crate::tickets::TicketSummary,
    },
}

impl TimelineEntry {
    fn at(&self) -> DateTime<Utc> {
        match self {
            TimelineEntry::Change { at, .. }
            | TimelineEntry::Order { at, .. }
            | TimelineEntry::Ticket { at, .. } => *at,
        }
    }
}

/// Everything the 360° page shows about a customer.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CustomerProfile {
    /// The customer.
    pub customer: CustomerView,
    /// Order totals per currency.
    pub totals: Vec<Totals>,
    /// Orders per month over the span between first and last order.
    pub orders_per_month: Option<f64>,
    /// The newest orders.
    pub recent_orders: Vec<Order>,
    /// Other customers sharing a phone or email, or in the same
    /// organization with a name that sounds the same: possible duplicates.
    pub possible_duplicates: Vec<i64>,
    /// The newest tickets, open or not.
    pub recent_tickets: Vec<crate::tickets::TicketSummary>,
    /// How many tickets are still being worked on.
    pub open_tickets: i64,
    /// Changes, orders and tickets, newest first.
    pub timeline: Vec<TimelineEntry>,
}

/// The 360° view of one customer.
pub async fn profile(app: &App, caller: &Caller, id: i64) -> Result<CustomerProfile, AppError> {
    caller.require(Permission::ViewCustomers)?;
    let mut reader = app.store.read().await?;
    let (customer, points) = load_view(
        &mut reader.conn(),
        id,
        caller.role.allows(Permission::ViewPersonalData),
    )
    .await?;
    let totals = orders::totals(&mut reader.conn(), id).await?;
    let recent_orders = orders::recent(&mut reader.conn(), id, 20).await?;
    let count: i64 = totals.iter().map(|t| t.orders).sum();
    let first = totals.iter().map(|t| t.first_at).min();
    let last = totals.iter().map(|t| t.last_at).max();
    let orders_per_month = match (first, last) {
        (Some(first), Some(last)) if count > 1 => {
            let months = ((last - first).num_days() as f64 / 30.44).max(1.0);
            Some((count as f64 / months * 10.0).round() / 10.0)
        }
        _ => None,
    };
    let mut possible_duplicates = Vec::new();
    for p in points
        .iter()
        .filter(|p| matches!(p.kind, ContactKind::Phone | ContactKind::Email))
    {
        for other in customers::holders_of(&mut reader.conn(), p.kind, &p.value).await? {
            if other != id && !possible_duplicates.contains(&other) {
                possible_duplicates.push(other);
            }
        }
    }
    if let Some(organization) = customer.customer.organization_id {
        let name = &customer.customer.name;
        for other in customers::sounding_alike(&mut reader.conn(), organization, name, id).await? {
            if !possible_duplicates.contains(&other) {
                possible_duplicates.push(other);
            }
        }
    }
    let mut timeline: Vec<TimelineEntry> = Vec::new();
    // Field names only: the values stay in the audit log for those who may read it.
    for record in audit_log::for_record(&mut reader.conn(), "customer", id).await? {
        timeline.push(TimelineEntry::Change {
            at: record.at,
            actor: format!("{}:{}", record.actor_kind, record.actor_ref),
            action: record.action,
            fields: record.changes.into_iter().map(|c| c.field).collect(),
        });
    }
    for order in &recent_orders {
        timeline.push(TimelineEntry::Order {
            at: order.ordered_at,
            order: order.clone(),
        });
    }
    let recent_tickets = crate::tickets::recent_for_customer(&mut reader.conn(), id, 20).await?;
    let open_tickets = crate::tickets::open_count_for_customer(&mut reader.conn(), id).await?;
    for ticket in &recent_tickets {
        timeline.push(TimelineEntry::Ticket {
            at: ticket.created_at,
            ticket: ticket.clone(),
        });
    }
    timeline.sort_by_key(|e| std::cmp::Reverse(e.at()));
    Ok(CustomerProfile {
        customer,
        totals,
        orders_per_month,
        recent_orders,
        possible_duplicates,
        recent_tickets,
        open_tickets,
        timeline,
    })
}

/// Everything stored about one customer, for a data-subject request; the
/// export itself is recorded in the audit log.
pub async fn export_customer(
    app: &App,
    caller: &Caller,
    id: i64,
) -> Result<serde_json::Value, AppError> {
    caller.require(Permission::ExportCustomers)?;
    let mut tx = app.store.write().await?;
    let (view, _) = load_view(&mut tx.conn(), id, true).await?;
    let mut all_orders = Vec::new();
    all_orders.extend(orders::recent(&mut tx.conn(), id, i64::MAX).await?);
    let history = audit_log::for_record(&mut tx.conn(), "customer", id).await?;
    audit_log::append(
        &mut tx.conn(),
        &audit_log::Entry {
            actor: &caller.actor,
            source: caller.source,
            entity: "customer",
            entity_id: id,
            action: Action::Read,
            changes: vec![kefu_domain::audit::FieldChange {
                field: "export".into(),
                old: serde_json::Value::Null,
                new: serde_json::json!("all personal data"),
            }],
        },
    )
    .await?;
    tx.commit().await?;
    Ok(serde_json::json!({
        "exported_at": Utc::now(),
        "customer": view,
        "orders": all_orders,
        "history": history,
    }))
}

/// Erases (anonymises) a customer's personal data on request: name,
/// birthday, address, notes, contact points and tags go; the record, its
/// grade, classification and orders stay so counts and statistics hold.
pub async fn erase_customer(
    app: &App,
    caller: &Caller,
    id: i64,
    version: i64,
) -> Result<CustomerView, AppError> {
    caller.require(Permission::ErasePersonalData)?;
    let mut tx = app.store.write().await?;
    let before = customers::get(&mut tx.conn(), id).await?;
    if before.version != version {
        return Err(AppError::Conflict {
            current_version: before.version,
        });
    }
    if before.erased_at.is_some() {
        return Err(AppError::invalid(
            "version",
            "this customer's personal data was already erased",
        ));
    }
    let old_points = customers::contact_points(&mut tx.conn(), id).await?;
    let old_tags = customers::tags(&mut tx.conn(), id).await?;
    let mut f = CustomerFields::of(&before);
    f.name = format!("#{id}");
    f.gender = Gender::Unknown;
    f.birthday = None;
    f.province = String::new();
    f.city = String::new();
    f.district = String::new();
    f.street = String::new();
    f.notes = String::new();
    f.external_id = None;
    customers::update(&mut tx.conn(), id, version, &f).await?;
    customers::mark_erased(&mut tx.conn(), id).await?;
    kefu_store::portal::forget_customer(&mut tx.conn(), id).await?;
    customers::set_contact_points(&mut tx.conn(), id, &[]).await?;
    customers::set_tags(&mut tx.conn(), id, &[]).await?;
    let old_custom: Vec<(i64, String)> =
        kefu_store::custom_fields::values_of(&mut tx.conn(), FieldTarget::Customer, &[id])
            .await?
            .into_iter()
            .map(|(_, field, value)| (field, value))
            .collect();
    if !old_custom.is_empty() {
        crate::custom_fields::replace_values(
            &mut tx,
            caller,
            FieldTarget::Customer,
            id,
            Action::Update,
            &old_custom,
            &[],
        )
        .await?;
    }
    let after = customers::get(&mut tx.conn(), id).await?;
    record_change(
        &mut tx,
        caller,
        "customer",
        id,
        Action::Update,
        &AuditSnapshot::of(&before, &old_points, &old_tags),
        &AuditSnapshot::of(&after, &[], &[]),
    )
    .await?;
    let (view, _) = load_view(&mut tx.conn(), id, true).await?;
    tx.commit().await?;
    Ok(view)
}

/// Which duplicate to fold into which survivor, with the versions read.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    /// The customer that stays.
    pub survivor_id: i64,
    /// The survivor's version as read.
    pub survivor_version: i64,
    /// The customer folded into the survivor.
    pub duplicate_id: i64,
    /// The duplicate's version as read.
    pub duplicate_version: i64,
}

/// Merges a duplicate into a survivor: contact points, tags and orders
/// move over, the survivor's empty fields take the duplicate's values,
/// and the duplicate leaves every list and lookup, pointing to the
/// survivor. Both changes are in the audit log.
pub async fn merge_customers(
    app: &App,
    caller: &Caller,
    input: &MergeInput,
) -> Result<CustomerView, AppError> {
    caller.require(Permission::MergeCustomers)?;
    if input.survivor_id == input.duplicate_id {
        return Err(AppError::invalid(
            "duplicate_id",
            "must be another customer than the survivor",
        ));
    }
    let mut tx = app.store.write().await?;
    let survivor = match customers::get(&mut tx.conn(), input.survivor_id).await {
        Err(StoreError::NotFound) => {
            return Err(AppError::invalid(
                "survivor_id",
                format!("customer {} does not exist", input.survivor_id),
            ));
        }
        other => other?,
    };
    let duplicate = match customers::get(&mut tx.conn(), input.duplicate_id).await {
        Err(StoreError::NotFound) => {
            return Err(AppError::invalid(
                "duplicate_id",
                format!("customer {} does not exist", input.duplicate_id),
            ));
        }
        other => other?,
    };
    for (customer, expected) in [
        (&survivor, input.survivor_version),
        (&duplicate, input.duplicate_version),
    ] {
        if customer.version != expected {
            return Err(AppError::Conflict {
                current_version: customer.version,
            });
        }
        if customer.erased_at.is_some() || customer.merged_into_id.is_some() {
            let field = if customer.id == survivor.id {
                "survivor_id"
            } else {
                "duplicate_id"
            };
            return Err(AppError::invalid(
                field,
                "was erased or already merged and cannot take part in a merge",
            ));
        }
    }
    let survivor_points = customers::contact_points(&mut tx.conn(), survivor.id).await?;
    let survivor_tags = customers::tags(&mut tx.conn(), survivor.id).await?;
    let duplicate_points = customers::contact_points(&mut tx.conn(), duplicate.id).await?;
    let duplicate_tags = customers::tags(&mut tx.conn(), duplicate.id).await?;

    let mut f = CustomerFields::of(&survivor);
    let fill = |target: &mut String, from: &str| {
        if target.is_empty() {
            *target = from.to_owned();
        }
    };
    fill(&mut f.province, &duplicate.province);
    fill(&mut f.city, &duplicate.city);
    fill(&mut f.district, &duplicate.district);
    fill(&mut f.street, &duplicate.street);
    fill(&mut f.region, &duplicate.region);
    fill(&mut f.industry, &duplicate.industry);
    if f.notes.is_empty() {
        f.notes = duplicate.notes.clone();
    } else if !duplicate.notes.is_empty() && duplicate.notes != f.notes {
        f.notes = format!("{}\n{}", f.notes, duplicate.notes);
    }
    if f.gender == Gender::Unknown {
        f.gender = duplicate.gender;
    }
    if f.birthday.is_none() {
        f.birthday = duplicate.birthday;
    }
    if f.organization_id.is_none() {
        f.organization_id = duplicate.organization_id;
    }
    if f.company_size == CompanySize::Unknown {
        f.company_size = duplicate.company_size;
    }
    // The better grade wins: a merged customer is at least as valuable.
    f.grade = f.grade.min(duplicate.grade);
    let moved_external_id = f.external_id.is_none() && duplicate.external_id.is_some();
    if moved_external_id {
        f.external_id = duplicate.external_id.clone();
    }
    let mut points = survivor_points.clone();
    for p in &duplicate_points {
        if !points
            .iter()
            .any(|q| q.kind == p.kind && q.value == p.value)
        {
            points.push(p.clone());
        }
    }
    let mut tags = survivor_tags.clone();
    for t in &duplicate_tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    tags.sort();

    // The duplicate gives up what moves first, so unique values never clash.
    let mut emptied = CustomerFields::of(&duplicate);
    if moved_external_id {
        emptied.external_id = None;
    }
    customers::update(&mut tx.conn(), duplicate.id, duplicate.version, &emptied).await?;
    customers::set_contact_points(&mut tx.conn(), duplicate.id, &[]).await?;
    customers::set_tags(&mut tx.conn(), duplicate.id, &[]).await?;
    customers::mark_merged(&mut tx.conn(), duplicate.id, survivor.id).await?;
    kefu_store::portal::forget_customer(&mut tx.conn(), duplicate.id).await?;
    orders::move_to(&mut tx.conn(), duplicate.id, survivor.id).await?;
    for ticket in
        kefu_store::tickets::move_customer(&mut tx.conn(), duplicate.id, survivor.id).await?
    {
        record_change(
            &mut tx,
            caller,
            "ticket",
            ticket,
            Action::Update,
            &serde_json::json!({ "customer_id": duplicate.id }),
            &serde_json::json!({ "customer_id": survivor.id }),
        )
        .await?;
    }
    let values = kefu_store::custom_fields::values_of(
        &mut tx.conn(),
        FieldTarget::Customer,
        &[survivor.id, duplicate.id],
    )
    .await?;
    let survivor_custom: Vec<(i64, String)> = values
        .iter()
        .filter(|(c, _, _)| *c == survivor.id)
        .map(|(_, f, v)| (*f, v.clone()))
        .collect();
    let duplicate_custom: Vec<(i64, String)> = values
        .iter()
        .filter(|(c, _, _)| *c == duplicate.id)
        .map(|(_, f, v)| (*f, v.clone()))
        .collect();
    let mut merged_custom = survivor_custom.clone();
    for (field, value) in &duplicate_custom {
        if !survivor_custom.iter().any(|(f, _)| f == field) {
            merged_custom.push((*field, value.clone()));
        }
    }
    if !duplicate_custom.is_empty() {
        crate::custom_fields::replace_values(
            &mut tx,
            caller,
            FieldTarget::Customer,
            duplicate.id,
            Action::Update,
            &duplicate_custom,
            &[],
        )
        .await?;
    }
    if merged_custom != survivor_custom {
        crate::custom_fields::replace_values(
            &mut tx,
            caller,
            FieldTarget::Customer,
            survivor.id,
            Action::Update,
            &survivor_custom,
            &merged_custom,
        )
        .await?;
    }
    let after = customers::update(&mut tx.conn(), survivor.id, survivor.version, &f).await?;
    customers::set_contact_points(&mut tx.conn(), survivor.id, &points).await?;
    customers::set_tags(&mut tx.conn(), survivor.id, &tags).await?;
    let duplicate_after = customers::get(&mut tx.conn(), duplicate.id).await?;
    record_change(
        &mut tx,
        caller,
        "customer",
        duplicate.id,
        Action::Update,
        &AuditSnapshot::of(&duplicate, &duplicate_points, &duplicate_tags),
        &AuditSnapshot::of(&duplicate_after, &[], &[]),
    )
    .await?;
    record_change(
        &mut tx,
        caller,
        "customer",
        survivor.id,
        Action::Update,
        &AuditSnapshot::of(&survivor, &survivor_points, &survivor_tags),
        &AuditSnapshot::of(&after, &points, &tags),
    )
    .await?;
    let (view, _) = load_view(
        &mut tx.conn(),
        survivor.id,
        caller.role.allows(Permission::ViewPersonalData),
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

/// A group of possible duplicates with each customer's summary.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DuplicateGroupView {
    /// `phone`, `email` or `name`.
    pub reason: String,
    /// The shared value, masked unless the caller may see personal data.
    pub key: String,
    /// The customers, oldest first.
    pub customers: Vec<CustomerView>,
}

/// Possible duplicates to review (at most 50 groups).
pub async fn duplicates(app: &App, caller: &Caller) -> Result<Vec<DuplicateGroupView>, AppError> {
    caller.require(Permission::MergeCustomers)?;
    let unmasked = caller.role.allows(Permission::ViewPersonalData);
    let mut reader = app.store.read().await?;
    let groups = customers::duplicate_groups(&mut reader.conn(), 50).await?;
    let mut out = Vec::new();
    for group in groups {
        let mut members = Vec::new();
        for id in &group.customer_ids {
            members.push(load_view(&mut reader.conn(), *id, unmasked).await?.0);
        }
        let key = match group.reason.as_str() {
            "phone" if !unmasked => rules::mask(ContactKind::Phone, &group.key),
            "email" if !unmasked => rules::mask(ContactKind::Email, &group.key),
            _ => group.key,
        };
        out.push(DuplicateGroupView {
            reason: group.reason,
            key,
            customers: members,
        });
    }
    Ok(out)
}

/// Input to record an order.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// RFC 3339 instant.
    pub ordered_at: DateTime<Utc>,
    /// Amount as a decimal string or number in major units (`199.00`).
    pub amount: serde_json::Value,
    /// ISO 4217 code; default CNY.
    #[serde(default)]
    pub currency: Option<String>,
    /// What was bought.
    pub product: String,
    /// Where.
    #[serde(default)]
    pub channel: Option<String>,
    /// Id in the billing system.
    #[serde(default)]
    pub external_id: Option<String>,
}

/// Parses an amount in major units with at most two decimals into minor units.
fn amount_minor(value: &serde_json::Value) -> Result<i64, AppError> {
    let bad = || {
        AppError::invalid(
            "amount",
            "must be an amount such as 199 or 199.50, with at most two decimals",
        )
    };
    let text = match value {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(bad()),
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
        || whole.len() > 13
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    let minor = whole * 100 + cents;
    Ok(if negative { -minor } else { minor })
}

/// Records an order for a customer.
pub async fn add_order(
    app: &App,
    caller: &Caller,
    customer_id: i64,
    input: OrderInput,
) -> Result<Order, AppError> {
    caller.require(Permission::ManageCustomers)?;
    let mut tx = app.store.write().await?;
    let order = add_order_in(&mut tx, caller, customer_id, &input).await?;
    tx.commit().await?;
    Ok(order)
}

/// Records an order inside a transaction the caller commits.
pub(crate) async fn add_order_in(
    tx: &mut Tx,
    caller: &Caller,
    customer_id: i64,
    input: &OrderInput,
) -> Result<Order, AppError> {
    caller.require(Permission::ManageCustomers)?;
    let currency = input
        .currency
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or("CNY")
        .to_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(AppError::invalid(
            "currency",
            "must be a three-letter ISO 4217 code such as CNY",
        ));
    }
    let new = NewOrder {
        customer_id,
        ordered_at: input.ordered_at,
        amount_minor: amount_minor(&input.amount)?,
        currency,
        product: validate::name("product", &input.product, 200)?,
        channel: trimmed(input.channel.as_ref(), "channel", 40)?,
        external_id: external_id(input.external_id.as_ref())?,
    };
    let customer = customers::get(&mut tx.conn(), customer_id).await?;
    if customer.erased_at.is_some() {
        return Err(AppError::NotFound);
    }
    let order = orders::insert(&mut tx.conn(), &new).await?;
    record_change(tx, caller, "order", order.id, Action::Create, &(), &order).await?;
    Ok(order)
}

/// Input to create or change an organization.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationInput {
    /// For changes: the version read.
    #[serde(default)]
    pub version: Option<i64>,
    /// Name, unique ignoring case.
    pub name: String,
    /// Region.
    #[serde(default)]
    pub region: Option<String>,
    /// Industry.
    #[serde(default)]
    pub industry: Option<String>,
    /// Company size.
    #[serde(default)]
    pub company_size: Option<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// External id.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Members see each other's requests in the customer portal (new
    /// organizations: each sees only their own; changes: unchanged when
    /// left out).
    #[serde(default)]
    pub portal_shared: Option<bool>,
}

fn organization_fields(input: &OrganizationInput) -> Result<OrganizationFields, AppError> {
    Ok(OrganizationFields {
        name: validate::name("name", &input.name, 200)?,
        region: trimmed(input.region.as_ref(), "region", 40)?,
        industry: trimmed(input.industry.as_ref(), "industry", 60)?,
        company_size: match &input.company_size {
            Some(s) if !s.trim().is_empty() => CompanySize::parse_field("company_size", s)?,
            _ => CompanySize::Unknown,
        },
        notes: trimmed(input.notes.as_ref(), "notes", 4000)?,
        external_id: external_id(input.external_id.as_ref())?,
        portal_shared: input.portal_shared.unwrap_or(false),
    })
}

/// An organization with how many customers belong to it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct OrganizationView {
    /// The record.
    #[serde(flatten)]
    pub organization: Organization,
    /// Customers in it.
    pub customer_count: i64,
}

/// Creates an organization.
pub async fn create_organization(
    app: &App,
    caller: &Caller,
    input: OrganizationInput,
) -> Result<Organization, AppError> {
    caller.require(Permission::ManageCustomers)?;
    let mut tx = app.store.write().await?;
    let org = create_organization_in(&mut tx, caller, &input).await?;
    tx.commit().await?;
    Ok(org)
}

/// Creates an organization inside a transaction the caller commits.
pub(crate) async fn create_organization_in(
    tx: &mut Tx,
    caller: &Caller,
    input: &OrganizationInput,
) -> Result<Organization, AppError> {
    caller.require(Permission::ManageCustomers)?;
    let fields = organization_fields(input)?;
    let org = organizations::insert(&mut tx.conn(), &fields).await?;
    record_change(
        tx,
        caller,
        "organization",
        org.id,
        Action::Create,
        &(),
        &org,
    )
    .await?;
    Ok(org)
}

/// Changes an organization (the input's `version` is required).
pub async fn update_organization(
    app: &App,
    caller: &Caller,
    id: i64,
    input: OrganizationInput,
) -> Result<Organization, AppError> {
    caller.require(Permission::ManageCustomers)?;
    let version = input
        .version
        .ok_or_else(|| AppError::invalid("version", "must not be empty"))?;
    let mut fields = organization_fields(&input)?;
    let mut tx = app.store.write().await?;
    let before = organizations::get(&mut tx.conn(), id).await?;
    fields.portal_shared = input.portal_shared.unwrap_or(before.portal_shared);
    let after = organizations::update(&mut tx.conn(), id, version, &fields).await?;
    record_change(
        &mut tx,
        caller,
        "organization",
        id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// One organization with its customer count.
pub async fn get_organization(
    app: &App,
    caller: &Caller,
    id: i64,
) -> Result<OrganizationView, AppError> {
    caller.require(Permission::ViewCustomers)?;
    let mut reader = app.store.read().await?;
    let organization = organizations::get(&mut reader.conn(), id).await?;
    let customer_count = organizations::member_counts(&mut reader.conn(), &[id])
        .await?
        .first()
        .map_or(0, |(_, n)| *n);
    Ok(OrganizationView {
        organization,
        customer_count,
    })
}

/// Lists organizations, optionally those whose name contains `q`.
pub async fn list_organizations(
    app: &App,
    caller: &Caller,
    q: Option<&str>,
    page: PageRequest,
) -> Result<Page<OrganizationView>, AppError> {
    caller.require(Permission::ViewCustomers)?;
    let mut reader = app.store.read().await?;
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    let rows = organizations::list(&mut reader.conn(), q, page.after, page.fetch_limit()).await?;
    let page = Page::from_rows(rows, page, |o| o.id);
    let ids: Vec<i64> = page.items.iter().map(|o| o.id).collect();
    let counts: BTreeMap<i64, i64> = organizations::member_counts(&mut reader.conn(), &ids)
        .await?
        .into_iter()
        .collect();
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|organization| OrganizationView {
                customer_count: counts.get(&organization.id).copied().unwrap_or(0),
                organization,
            })
            .collect(),
        next_cursor: page.next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_parsed_exactly() {
        let cases = [
            (serde_json::json!("199"), Some(19900)),
            (serde_json::json!("199.5"), Some(19950)),
            (serde_json::json!("199.05"), Some(19905)),
            (serde_json::json!(88.8), Some(8880)),
            (serde_json::json!("-10.00"), Some(-1000)),
            (serde_json::json!("1.234"), None),
            (serde_json::json!("abc"), None),
            (serde_json::json!(""), None),
            (serde_json::json!(true), None),
        ];
        for (value, expected) in cases {
            assert_eq!(amount_minor(&value).ok(), expected, "{value}");
        }
    }

    #[test]
    fn cursors_round_trip_per_sort() {
        assert_eq!(
            parse_cursor(Sort::Newest, Some("42")).ok(),
            Some(After::Id(42))
        );
        assert_eq!(
            parse_cursor(Sort::Name, Some("7")).ok(),
            Some(After::Name(7))
        );
        assert_eq!(
            parse_cursor(Sort::Name, Some("7.wang fang")).ok(),
            Some(After::Name(7))
        );
        assert!(parse_cursor(Sort::Updated, Some("7.yesterday")).is_err());
        assert!(parse_cursor(Sort::Newest, Some("x")).is_err());
        assert!(parse_sort(Some("size")).is_err());
    }
}
