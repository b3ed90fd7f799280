//! Importing customers from CSV and XLSX files and exporting lists.
//!
//! An import maps the file's columns to customer fields (guessed from the
//! header in Chinese or English, changeable by the user), checks every row
//! with the same rules as the customer form, and either reports every
//! row's errors (row number, column, reason) without writing anything, or
//! writes all rows in one transaction. A row whose external id is already
//! in the archive updates that customer instead of adding a second one.

use crate::customers::{self as archive, NewCustomer};
use crate::{App, AppError, Caller};
use kefu_domain::Permission;
use kefu_domain::audit::Action;
use kefu_domain::custom_field::FieldTarget;
use kefu_domain::customer::{CompanySize, ContactKind};
use kefu_store::custom_fields::CustomField;
use kefu_store::customers::{self, ContactPoint, CustomerFields};
use kefu_store::organizations;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A customer field a column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportField {
    /// Kefu's own customer id (as exported): the row updates that customer.
    Id,
    /// Full name.
    Name,
    /// A phone number (several columns may map here).
    Phone,
    /// An email address.
    Email,
    /// A WeChat id.
    Wechat,
    /// The id in another system; re-imports update by it.
    ExternalId,
    /// Gender.
    Gender,
    /// Birthday.
    Birthday,
    /// Language.
    Language,
    /// Province.
    Province,
    /// City.
    City,
    /// District.
    District,
    /// Street address.
    Street,
    /// Region.
    Region,
    /// Industry.
    Industry,
    /// Company size.
    CompanySize,
    /// Grade.
    Grade,
    /// Tags, separated by commas in the cell.
    Tags,
    /// Needs and preferences.
    Notes,
    /// The organization's name; created when it does not exist yet.
    Organization,
}

impl ImportField {
    /// Every field, in the order the mapping screen lists them.
    pub const ALL: [ImportField; 20] = [
        ImportField::Id,
        ImportField::Name,
        ImportField::Phone,
        ImportField::Email,
        ImportField::Wechat,
        ImportField::ExternalId,
        ImportField::Gender,
        ImportField::Birthday,
        ImportField::Language,
        ImportField::Organization,
        ImportField::Province,
        ImportField::City,
        ImportField::District,
        ImportField::Street,
        ImportField::Region,
        ImportField::Industry,
        ImportField::CompanySize,
        ImportField::Grade,
        ImportField::Tags,
        ImportField::Notes,
    ];

    /// The code name used in mappings and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportField::Id => "id",
            ImportField::Name => "name",
            ImportField::Phone => "phone",
            ImportField::Email => "email",
            ImportField::Wechat => "wechat",
            ImportField::ExternalId => "external_id",
            ImportField::Gender => "gender",
            ImportField::Birthday => "birthday",
            ImportField::Language => "language",
            ImportField::Province => "province",
            ImportField::City => "city",
            ImportField::District => "district",
            ImportField::Street => "street",
            ImportField::Region => "region",
            ImportField::Industry => "industry",
            ImportField::CompanySize => "company_size",
            ImportField::Grade => "grade",
            ImportField::Tags => "tags",
            ImportField::Notes => "notes",
            ImportField::Organization => "organization",
        }
    }

    /// The field for a code name.
    pub fn parse(code: &str) -> Option<ImportField> {
        ImportField::ALL.into_iter().find(|f| f.as_str() == code)
    }

    /// The header words, in Chinese and English, that mean this field.
    fn header_words(self) -> &'static [&'static str] {
        match self {
            ImportField::Id => &["id", "kefu id", "客户id"],
            ImportField::Name => &[
                "name",
                "full name",
                "customer name",
                "姓名",
                "名称",
                "客户名称",
                "客户姓名",
            ],
            ImportField::Phone => &[
                "phone",
                "mobile",
                "tel",
                "telephone",
                "phone number",
                "电话",
                "手机",
                "手机号",
                "手机号码",
                "联系电话",
                "电话号码",
            ],
            ImportField::Email => &[
                "email",
                "e-mail",
                "mail",
                "email address",
                "邮箱",
                "电子邮箱",
                "邮件",
                "邮箱地址",
            ],
            ImportField::Wechat => &["wechat", "wechat id", "微信", "微信号"],
            ImportField::ExternalId => &[
                "external id",
                "external_id",
                "customer id",
                "customer no",
                "外部编号",
                "客户编号",
                "编号",
            ],
            ImportField::Gender => &["gender", "sex", "性别"],
            ImportField::Birthday => &[
                "birthday",
                "date of birth",
                "dob",
                "birth date",
                "生日",
                "出生日期",
            ],
            ImportField::Language => &["language", "语言"],
            ImportField::Province => &["province", "state", "省", "省份"],
            ImportField::City => &["city", "市", "城市"],
            ImportField::District => &["district", "county", "区", "区县", "区/县"],
            ImportField::Street => &[
                "street",
                "address",
                "street address",
                "地址",
                "详细地址",
                "街道地址",
            ],
            ImportField::Region => &["region", "area", "地区", "区域", "大区"],
            ImportField::Industry => &["industry", "行业"],
            ImportField::CompanySize => &[
                "company size",
                "company_size",
                "size",
                "规模",
                "企业规模",
                "公司规模",
            ],
            ImportField::Grade => &[
                "grade",
                "tier",
                "level",
                "分级",
                "客户分级",
                "等级",
                "客户等级",
            ],
            ImportField::Tags => &["tags", "tag", "标签"],
            ImportField::Notes => &["notes", "note", "remarks", "备注", "需求", "需求与偏好"],
            ImportField::Organization => &[
                "organization",
                "organisation",
                "company",
                "组织",
                "公司",
                "企业",
                "单位",
                "所属公司",
            ],
        }
    }
}

/// The field a header most likely means, if any.
pub fn guess_field(header: &str) -> Option<ImportField> {
    let key = header
        .trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .replace(['_', '-'], " ");
    let key = key.split_whitespace().collect::<Vec<_>>().join(" ");
    ImportField::ALL.into_iter().find(|f| {
        f.header_words()
            .iter()
            .any(|w| w.replace(['_', '-'], " ") == key)
    })
}

/// A file's table: the header and the data rows, all as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column headers.
    pub headers: Vec<String>,
    /// Data rows; each as long as the header (short rows are padded).
    pub rows: Vec<Vec<String>>,
}

/// The most rows one import takes.
pub const MAX_ROWS: usize = 200_000;

/// Reads a CSV file: UTF-8 (with or without a byte-order mark) or, as
/// Excel in China saves it, GB18030/GBK.
pub fn read_csv(bytes: &[u8]) -> Result<Table, AppError> {
    let text: std::borrow::Cow<'_, str> = match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        Err(_) => {
            let (text, _, had_errors) = encoding_rs::GB18030.decode(bytes);
            if had_errors {
                return Err(AppError::invalid(
                    "file",
                    "is neither UTF-8 nor GB18030 text; save the file as CSV UTF-8",
                ));
            }
            text
        }
    };
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let headers: Vec<String> = match records.next() {
        Some(Ok(record)) => record.iter().map(|h| h.trim().to_owned()).collect(),
        Some(Err(e)) => return Err(AppError::invalid("file", format!("row 1: {e}"))),
        None => return Err(AppError::invalid("file", "is empty: expected a header row")),
    };
    let mut rows = Vec::new();
    for (index, record) in records.enumerate() {
        let record = record.map_err(|e| {
            AppError::invalid("file", format!("row {}: cannot be read ({e})", index + 2))
        })?;
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(AppError::invalid(
                "file",
                format!("has more than {MAX_ROWS} rows; split it into several files"),
            ));
        }
        let mut row: Vec<String> = record.iter().map(str::to_owned).collect();
        row.resize(headers.len().max(row.len()), String::new());
        rows.push(row);
    }
    Ok(Table { headers, rows })
}

/// Reads the first sheet of an XLSX workbook. Numbers that are whole
/// (phone numbers typed into Excel) lose the `.0`; dates become YYYY-MM-DD.
pub fn read_xlsx(bytes: &[u8]) -> Result<Table, AppError> {
    use calamine::{Data, Reader, Xlsx};
    let unreadable = |e: &dyn std::fmt::Display| {
        AppError::invalid("file", format!("is not a readable XLSX workbook ({e})"))
    };
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| AppError::invalid("file", "has no worksheet"))?
        .map_err(|e| unreadable(&e))?;
    let cell = |data: &Data| -> String {
        match data {
            Data::Empty | Data::Error(_) => String::new(),
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
            Data::Int(i) => i.to_string(),
            Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            Data::Float(f) => f.to_string(),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(d) => excel_date(d.as_f64()),
        }
    };
    let mut rows = range.rows();
    let headers: Vec<String> = match rows.next() {
        Some(row) => row.iter().map(|c| cell(c).trim().to_owned()).collect(),
        None => return Err(AppError::invalid("file", "is empty: expected a header row")),
    };
    let mut out = Vec::new();
    for row in rows {
        let mut values: Vec<String> = row.iter().map(cell).collect();
        if values.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        if out.len() == MAX_ROWS {
            return Err(AppError::invalid(
                "file",
                format!("has more than {MAX_ROWS} rows; split it into several files"),
            ));
        }
        values.resize(headers.len().max(values.len()), String::new());
        out.push(values);
    }
    Ok(Table { headers, rows: out })
}

/// An Excel date serial (days since 1899-12-30) as YYYY-MM-DD.
fn excel_date(serial: f64) -> String {
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or_default();
    // Whole days only: a birthday has no time of day.
    let days = serial.floor() as i64;
    epoch
        .checked_add_signed(chrono::Duration::days(days))
        .map(|d| d.to_string())
        .unwrap_or_default()
}

/// The file kinds an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Comma-separated values.
    Csv,
    /// An Excel workbook.
    Xlsx,
}

impl FileFormat {
    /// The code name.
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Xlsx => "xlsx",
        }
    }

    /// The format of a file from its first bytes: XLSX files are ZIP archives.
    pub fn sniff(bytes: &[u8]) -> FileFormat {
        if bytes.starts_with(b"PK\x03\x04") {
            FileFormat::Xlsx
        } else {
            FileFormat::Csv
        }
    }

    /// Reads a file of this format.
    pub fn read(self, bytes: &[u8]) -> Result<Table, AppError> {
        match self {
            FileFormat::Csv => read_csv(bytes),
            FileFormat::Xlsx => read_xlsx(bytes),
        }
    }
}

/// What a column fills: a field of the customer record, or a custom field
/// (by key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A built-in field.
    Field(ImportField),
    /// A custom field's key.
    Custom(String),
}

impl Target {
    /// The code used in mappings: the field's code, or `custom:<key>`.
    pub fn code(&self) -> String {
        match self {
            Target::Field(f) => f.as_str().to_owned(),
            Target::Custom(key) => format!("custom:{key}"),
        }
    }

    /// The target a code names, if the field exists and is in use.
    pub fn parse(code: &str, fields: &[CustomField]) -> Option<Target> {
        match code.strip_prefix("custom:") {
            Some(key) => fields
                .iter()
                .find(|f| f.active && f.key == key)
                .map(|f| Target::Custom(f.key.clone())),
            None => ImportField::parse(code).map(Target::Field),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.code())
    }
}

/// Which field each column fills (`None`: the column is left out).
pub type Mapping = Vec<Option<Target>>;

/// The guessed mapping of a table's headers: built-in fields by their
/// zh-CN/English names, custom fields by key or either label. A field is
/// guessed for one column only, except phones, emails and WeChat ids.
pub fn guess_mapping(headers: &[String], fields: &[CustomField]) -> Mapping {
    let mut taken = HashSet::new();
    headers
        .iter()
        .map(|h| {
            let target = match guess_field(h) {
                Some(field) => Target::Field(field),
                None => {
                    let wanted = h.trim().to_lowercase();
                    let field = fields.iter().find(|f| {
                        f.active
                            && (f.key == wanted
                                || f.label_zh.to_lowercase() == wanted
                                || f.label_en.to_lowercase() == wanted)
                    })?;
                    Target::Custom(field.key.clone())
                }
            };
            let repeatable = matches!(
                target,
                Target::Field(ImportField::Phone | ImportField::Email | ImportField::Wechat)
            );
            (repeatable || taken.insert(target.clone())).then_some(target)
        })
        .collect()
}

/// One problem in one cell (or row) of the file.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RowError {
    /// The row number as a spreadsheet shows it (the header is row 1).
    pub row: usize,
    /// The column header, empty when the problem is the whole row.
    pub column: String,
    /// What is wrong.
    pub reason: String,
}

/// What an import did or would do.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    /// Whether nothing was to be written.
    pub dry_run: bool,
    /// Whether the rows were written.
    pub committed: bool,
    /// Data rows in the file.
    pub rows: usize,
    /// Customers added (or that would be).
    pub created: usize,
    /// Customers updated by external id (or that would be).
    pub updated: usize,
    /// Organizations added because a row named one not in the archive.
    pub organizations_created: usize,
    /// Every problem found; nothing is written when there is one.
    pub errors: Vec<RowError>,
    /// The mapping used, as (column header, field code or null).
    #[schemars(with = "Vec<(String, Option<String>)>")]
    pub mapping: Vec<(String, Option<Target>)>,
}

/// One checked row, ready to write.
struct ReadyRow {
    input: NewCustomer,
    organization: Option<String>,
    /// The customer with this external id, to update instead of adding.
    existing: Option<i64>,
}

fn normalize_code(field: ImportField, value: &str) -> String {
    let v = value.trim().to_lowercase();
    match field {
        ImportField::Gender => match v.as_str() {
            "男" | "m" | "male" | "man" => "male",
            "女" | "f" | "female" | "woman" => "female",
            "其他" | "other" => "other",
            "" | "未知" | "unknown" | "未填写" => "unknown",
            _ => return value.trim().to_owned(),
        }
        .to_owned(),
        ImportField::Grade => v
            .trim_end_matches('级')
            .trim_end_matches(" grade")
            .to_owned(),
        ImportField::Language => match v.as_str() {
            "zh" | "zh-cn" | "中文" | "简体中文" | "chinese" => "zh-CN".to_owned(),
            "en" | "english" | "英文" | "英语" => "en".to_owned(),
            _ => value.trim().to_owned(),
        },
        ImportField::CompanySize => {
            for size in CompanySize::ALL {
                if v == size.as_str() {
                    return v;
                }
            }
            match v.as_str() {
                "1-9" | "1–9" | "1-9人" => "micro",
                "10-99" | "10–99" | "10-99人" => "small",
                "100-999" | "100–999" | "100-999人" => "medium",
                "1000+" | "1000人以上" | "1,000+" => "large",
                "" | "未知" => "unknown",
                _ => return value.trim().to_owned(),
            }
            .to_owned()
        }
        ImportField::Birthday => value.trim().replace('/', "-"),
        _ => value.trim().to_owned(),
    }
}

/// Turns one row into a customer input and the column each contact point came from.
fn row_input(
    headers: &[String],
    mapping: &Mapping,
    row: &[String],
) -> (NewCustomer, Option<String>, Option<String>, Vec<String>) {
    let mut input = NewCustomer::default();
    let mut organization = None;
    let mut id = None;
    let mut point_columns = Vec::new();
    for (column, target) in mapping.iter().enumerate() {
        let field = match target {
            None => continue,
            Some(Target::Custom(key)) => {
                let raw = row.get(column).map(|v| v.trim()).unwrap_or("");
                if !raw.is_empty() {
                    input
                        .custom_fields
                        .insert(key.clone(), serde_json::Value::String(raw.to_owned()));
                }
                continue;
            }
            Some(Target::Field(field)) => field,
        };
        let raw = row.get(column).map(String::as_str).unwrap_or("");
        let value = normalize_code(*field, raw);
        if value.is_empty() {
            continue;
        }
        let header = headers.get(column).cloned().unwrap_or_default();
        let text = Some(value.clone());
        match field {
            ImportField::Id => id = Some(value),
            ImportField::Name => input.name = value,
            ImportField::Phone | ImportField::Email | ImportField::Wechat => {
                let kind = match field {
                    ImportField::Phone => ContactKind::Phone,
                    ImportField::Email => ContactKind::Email,
                    _ => ContactKind::Wechat,
                };
                // A cell may hold several values: "138…; 139…".
                for part in value.split([';', '；', '/', '、']) {
                    let part = part.trim();
                    if !part.is_empty() {
                        input.contact_points.push(archive::ContactInput {
                            kind: kind.as_str().to_owned(),
                            value: part.to_owned(),
                            label: String::new(),
                        });
                        point_columns.push(header.clone());
                    }
                }
            }
            ImportField::ExternalId => input.external_id = text,
            ImportField::Gender => input.gender = text,
            ImportField::Birthday => input.birthday = text,
            ImportField::Language => input.language = text,
            ImportField::Province => input.province = text,
            ImportField::City => input.city = text,
            ImportField::District => input.district = text,
            ImportField::Street => input.street = text,
            ImportField::Region => input.region = text,
            ImportField::Industry => input.industry = text,
            ImportField::CompanySize => input.company_size = text,
            ImportField::Grade => input.grade = text,
            ImportField::Notes => input.notes = text,
            ImportField::Tags => {
                input.tags = value
                    .split([',', '，', '、', ';', '；'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            ImportField::Organization => organization = Some(value),
        }
    }
    (input, organization, id, point_columns)
}

/// The column a validation error is about.
fn column_of(
    field: &str,
    headers: &[String],
    mapping: &Mapping,
    point_columns: &[String],
) -> String {
    if let Some(rest) = field.strip_prefix("contact_points[")
        && let Some(index) = rest.split(']').next().and_then(|i| i.parse::<usize>().ok())
    {
        return point_columns.get(index).cloned().unwrap_or_default();
    }
    if let Some(key) = field.strip_prefix("custom_fields.") {
        return mapping
            .iter()
            .position(|m| *m == Some(Target::Custom(key.to_owned())))
            .and_then(|i| headers.get(i).cloned())
            .unwrap_or_default();
    }
    let base = field.split('[').next().unwrap_or(field);
    let wanted = match base {
        "name" => Some(ImportField::Name),
        "gender" => Some(ImportField::Gender),
        "birthday" => Some(ImportField::Birthday),
        "language" => Some(ImportField::Language),
        "province" => Some(ImportField::Province),
        "city" => Some(ImportField::City),
        "district" => Some(ImportField::District),
        "street" => Some(ImportField::Street),
        "region" => Some(ImportField::Region),
        "industry" => Some(ImportField::Industry),
        "company_size" => Some(ImportField::CompanySize),
        "grade" => Some(ImportField::Grade),
        "notes" => Some(ImportField::Notes),
        "external_id" => Some(ImportField::ExternalId),
        "id" => Some(ImportField::Id),
        "tags" => Some(ImportField::Tags),
        _ => None,
    };
    wanted
        .and_then(|w| mapping.iter().position(|m| *m == Some(Target::Field(w))))
        .and_then(|i| headers.get(i).cloned())
        .unwrap_or_default()
}

/// Checks a table under a mapping and, unless `dry_run` or a row is
/// wrong, writes every row in one transaction.
pub async fn import_customers(
    app: &App,
    caller: &Caller,
    table: &Table,
    mapping: &Mapping,
    dry_run: bool,
) -> Result<ImportReport, AppError> {
    let progress = ImportProgress::default();
    import_tracked(app, caller, table, mapping, dry_run, &progress).await
}

/// [`import_customers`], counting rows checked and written in `progress`
/// as it goes.
async fn import_tracked(
    app: &App,
    caller: &Caller,
    table: &Table,
    mapping: &Mapping,
    dry_run: bool,
    progress: &ImportProgress,
) -> Result<ImportReport, AppError> {
    caller.require(Permission::ImportCustomers)?;
    progress.rows.store(table.rows.len(), Ordering::Relaxed);
    let mut report = ImportReport {
        dry_run,
        committed: false,
        rows: table.rows.len(),
        created: 0,
        updated: 0,
        organizations_created: 0,
        errors: Vec::new(),
        mapping: table
            .headers
            .iter()
            .cloned()
            .zip(mapping.iter().cloned())
            .collect(),
    };
    if !mapping.contains(&Some(Target::Field(ImportField::Name))) {
        report.errors.push(RowError {
            row: 1,
            column: String::new(),
            reason: "no column is mapped to the name; every customer needs one".into(),
        });
        return Ok(report);
    }
    let mut tx = app.store.write().await?;
    let company = kefu_store::company::get(&mut tx.conn()).await?;
    let defaults = archive::Defaults::of(company.as_ref());
    let fields_defined =
        kefu_store::custom_fields::all(&mut tx.conn(), FieldTarget::Customer).await?;
    // Required custom fields are checked once it is known whether a row adds
    // a customer (it must fill them) or updates one (it may keep them).
    let lenient: Vec<CustomField> = fields_defined
        .iter()
        .cloned()
        .map(|mut f| {
            f.required = false;
            f
        })
        .collect();
    let today = chrono::Utc::now().date_naive();
    let mut seen_external: HashMap<String, usize> = HashMap::new();
    let mut seen_ids: HashSet<i64> = HashSet::new();
    let mut ready: Vec<(usize, ReadyRow, archive::CheckedCustomer)> = Vec::new();
    for (index, row) in table.rows.iter().enumerate() {
        progress.checked.store(index + 1, Ordering::Relaxed);
        let row_number = index + 2;
        let (input, organization, id, point_columns) = row_input(&table.headers, mapping, row);
        match archive::check_new_customer(&input, &defaults, &lenient, today) {
            Ok(checked) => {
                let mut existing = None;
                if let Some(text) = &id {
                    let column = column_of("id", &table.headers, mapping, &[]);
                    let found = match text.parse::<i64>() {
                        Ok(n) => match customers::get(&mut tx.conn(), n).await {
                            Ok(c) if c.erased_at.is_none() && c.merged_into_id.is_none() => {
                                Some(c.id)
                            }
                            Ok(_) | Err(kefu_store::StoreError::NotFound) => None,
                            Err(other) => return Err(other.into()),
                        },
                        Err(_) => None,
                    };
                    match found {
                        Some(n) if seen_ids.insert(n) => existing = Some(n),
                        Some(_) => {
                            report.errors.push(RowError {
                                row: row_number,
                                column,
                                reason: format!("repeats customer id {text} of an earlier row"),
                            });
                            continue;
                        }
                        None => {
                            report.errors.push(RowError {
                                row: row_number,
                                column,
                                reason: format!("no customer has id {text}"),
                            });
                            continue;
                        }
                    }
                }
                if let Some(external) = &checked.fields.external_id
                    && let Some(first) = seen_external.insert(external.clone(), row_number)
                {
                    report.errors.push(RowError {
                        row: row_number,
                        column: column_of("external_id", &table.headers, mapping, &[]),
                        reason: format!("repeats the external id of row {first}"),
                    });
                    continue;
                }
                ready.push((
                    row_number,
                    ReadyRow {
                        input,
                        organization,
                        existing,
                    },
                    checked,
                ));
            }
            Err(AppError::Validation { field, reason }) => {
                report.errors.push(RowError {
                    row: row_number,
                    column: column_of(&field, &table.headers, mapping, &point_columns),
                    reason,
                });
            }
            Err(other) => return Err(other),
        }
    }
    // One query per few hundred rows finds the customers re-imported by external id.
    let externals: Vec<String> = ready
        .iter()
        .filter(|r| r.1.existing.is_none())
        .filter_map(|r| r.2.fields.external_id.clone())
        .collect();
    let known: HashMap<String, i64> = customers::ids_by_external_id(&mut tx.conn(), &externals)
        .await?
        .into_iter()
        .collect();
    for (_, row, checked) in &mut ready {
        if row.existing.is_none()
            && let Some(external) = &checked.fields.external_id
        {
            row.existing = known.get(external).copied();
        }
    }
    ready.retain(|(row_number, row, checked)| {
        if row.existing.is_some() {
            return true;
        }
        let missing = fields_defined.iter().find(|f| {
            f.active && f.required && !checked.custom_values.iter().any(|(id, _)| *id == f.id)
        });
        match missing {
            None => true,
            Some(f) => {
                report.errors.push(RowError {
                    row: *row_number,
                    column: column_of(
                        &format!("custom_fields.{}", f.key),
                        &table.headers,
                        mapping,
                        &[],
                    ),
                    reason: format!("custom field {} must not be empty", f.key),
                });
                false
            }
        }
    });
    report.errors.sort_by_key(|e| e.row);
    report.created = ready.iter().filter(|r| r.1.existing.is_none()).count();
    report.updated = ready.len() - report.created;
    let mut organization_ids: HashMap<String, i64> = HashMap::new();
    let mut new_organizations: HashSet<String> = HashSet::new();
    for (_, row, _) in &ready {
        if let Some(name) = &row.organization {
            let key = customers::name_key(name);
            if organization_ids.contains_key(&key) || new_organizations.contains(&key) {
                continue;
            }
            match organizations::by_name(&mut tx.conn(), name).await? {
                Some(org) => {
                    organization_ids.insert(key, org.id);
                }
                None => {
                    new_organizations.insert(key);
                }
            }
        }
    }
    report.organizations_created = new_organizations.len();
    if dry_run || !report.errors.is_empty() {
        // Dropping the transaction writes nothing.
        return Ok(report);
    }
    let mut new_rows: Vec<archive::CheckedCustomer> = Vec::new();
    for (_, row, mut checked) in ready {
        if let Some(name) = &row.organization {
            let key = customers::name_key(name);
            let id = match organization_ids.get(&key) {
                Some(id) => *id,
                None => {
                    let org = archive::create_organization_in(
                        &mut tx,
                        caller,
                        &archive::OrganizationInput {
                            name: name.clone(),
                            ..archive::OrganizationInput::default()
                        },
                    )
                    .await?;
                    organization_ids.insert(key, org.id);
                    org.id
                }
            };
            checked.fields.organization_id = Some(id);
        }
        match row.existing {
            None => new_rows.push(checked),
            Some(id) => {
                update_from_import(&mut tx, caller, &fields_defined, id, &row.input, checked)
                    .await?;
                progress.written.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    for chunk in new_rows.chunks(WRITE_CHUNK) {
        archive::store_new_customers(&mut tx, caller, chunk).await?;
        progress.written.fetch_add(chunk.len(), Ordering::Relaxed);
    }
    if report.rows >= 10_000 {
        customers::analyze_after_bulk(&mut tx.conn()).await?;
    }
    tx.commit().await?;
    report.committed = true;
    Ok(report)
}

/// A re-imported row: the columns the file has overwrite the stored
/// values; contact points and tags are added to the stored ones.
async fn update_from_import(
    tx: &mut kefu_store::Tx,
    caller: &Caller,
    defined: &[CustomField],
    id: i64,
    input: &NewCustomer,
    checked: archive::CheckedCustomer,
) -> Result<(), AppError> {
    let before = customers::get(&mut tx.conn(), id).await?;
    let old_points = customers::contact_points(&mut tx.conn(), id).await?;
    let old_tags = customers::tags(&mut tx.conn(), id).await?;
    let new = checked.fields;
    let mut f = CustomerFields::of(&before);
    f.name = new.name;
    if input.gender.is_some() {
        f.gender = new.gender;
    }
    if input.birthday.is_some() {
        f.birthday = new.birthday;
    }
    if input.language.is_some() {
        f.language = new.language;
    }
    if new.organization_id.is_some() {
        f.organization_id = new.organization_id;
    }
    let texts: [(&Option<String>, &mut String, String); 7] = [
        (&input.province, &mut f.province, new.province),
        (&input.city, &mut f.city, new.city),
        (&input.district, &mut f.district, new.district),
        (&input.street, &mut f.street, new.street),
        (&input.region, &mut f.region, new.region),
        (&input.industry, &mut f.industry, new.industry),
        (&input.notes, &mut f.notes, new.notes),
    ];
    for (given, target, value) in texts {
        if given.is_some() {
            *target = value;
        }
    }
    if input.company_size.is_some() {
        f.company_size = new.company_size;
    }
    if input.grade.is_some() {
        f.grade = new.grade;
    }
    let mut points: Vec<ContactPoint> = old_points.clone();
    for p in checked.points {
        if !points
            .iter()
            .any(|q| q.kind == p.kind && q.value == p.value)
        {
            points.push(p);
        }
    }
    let mut tags = old_tags.clone();
    for t in checked.tags {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    tags.sort();
    let old_custom: Vec<(i64, String)> =
        kefu_store::custom_fields::values_of(&mut tx.conn(), FieldTarget::Customer, &[id])
            .await?
            .into_iter()
            .map(|(_, field, value)| (field, value))
            .collect();
    let mut custom = crate::custom_fields::check_values(
        defined,
        &input.custom_fields,
        &old_custom,
        crate::custom_fields::Requirement::Enforced,
    )?;
    custom.sort();
    if custom != old_custom {
        crate::custom_fields::replace_values(
            tx,
            caller,
            FieldTarget::Customer,
            id,
            Action::Update,
            &old_custom,
            &custom,
        )
        .await?;
    }
    let unchanged = f == CustomerFields::of(&before) && points == old_points && tags == old_tags;
    if unchanged {
        return Ok(());
    }
    let after = customers::update(&mut tx.conn(), id, before.version, &f).await?;
    if points != old_points {
        customers::set_contact_points(&mut tx.conn(), id, &points).await?;
    }
    if tags != old_tags {
        customers::set_tags(&mut tx.conn(), id, &tags).await?;
    }
    archive::record_customer_change(
        tx,
        caller,
        Action::Update,
        Some((&before, &old_points, &old_tags)),
        (&after, &points, &tags),
    )
    .await
}

/// The columns of a customer list export.
const EXPORT_HEADERS: [&str; 20] = [
    "id",
    "name",
    "grade",
    "gender",
    "birthday",
    "language",
    "phone",
    "email",
    "wechat",
    "organization",
    "province",
    "city",
    "district",
    "street",
    "region",
    "industry",
    "company_size",
    "tags",
    "notes",
    "external_id",
];

/// The rows of an export: the header, then one row per customer matching
/// `query`, every page of it. Contact details are masked unless the caller
/// may see personal data. The export is recorded in the audit log.
pub async fn export_rows(
    app: &App,
    caller: &Caller,
    query: &archive::CustomerQuery,
) -> Result<Vec<Vec<String>>, AppError> {
    caller.require(Permission::ExportCustomers)?;
    let fields: Vec<kefu_store::custom_fields::CustomField> =
        crate::custom_fields::list_fields(app, caller, Some(FieldTarget::Customer))
            .await?
            .into_iter()
            .filter(|f| f.active)
            .collect();
    let mut header: Vec<String> = EXPORT_HEADERS.iter().map(|h| (*h).to_owned()).collect();
    header.extend(fields.iter().map(|f| f.key.clone()));
    let mut out = vec![header];
    let mut query = query.clone();
    query.limit = Some(crate::page::MAX_LIMIT);
    query.cursor = None;
    loop {
        let page = archive::list_full(app, caller, &query).await?;
        let ids: Vec<i64> = page.items.iter().map(|(c, _, _)| c.id).collect();
        let values = {
            let mut reader = app.store.read().await?;
            kefu_store::custom_fields::values_of(&mut reader.conn(), FieldTarget::Customer, &ids)
                .await?
        };
        let organization_names =
            archive::organization_names(app, page.items.iter().map(|(c, _, _)| c)).await?;
        for (customer, points, tags) in page.items {
            let joined = |kind: ContactKind| {
                points
                    .iter()
                    .filter(|p| p.kind == kind)
                    .map(|p| p.value.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let organization = customer
                .organization_id
                .and_then(|id| organization_names.get(&id).cloned())
                .unwrap_or_default();
            out.push(vec![
                customer.id.to_string(),
                customer.name.clone(),
                customer.grade.as_str().to_owned(),
                customer.gender.as_str().to_owned(),
                customer.birthday.map(|b| b.to_string()).unwrap_or_default(),
                customer.language.clone(),
                joined(ContactKind::Phone),
                joined(ContactKind::Email),
                joined(ContactKind::Wechat),
                organization,
                customer.province.clone(),
                customer.city.clone(),
                customer.district.clone(),
                customer.street.clone(),
                customer.region.clone(),
                customer.industry.clone(),
                customer.company_size.as_str().to_owned(),
                tags.join(", "),
                customer.notes.clone(),
                customer.external_id.clone().unwrap_or_default(),
            ]);
            if let Some(row) = out.last_mut() {
                for field in &fields {
                    let mine: Vec<&str> = values
                        .iter()
                        .filter(|(c, f, _)| *c == customer.id && *f == field.id)
                        .map(|(_, _, v)| v.as_str())
                        .collect();
                    row.push(mine.join("; "));
                }
            }
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    let mut tx = app.store.write().await?;
    kefu_store::audit::append(
        &mut tx.conn(),
        &kefu_store::audit::Entry {
            actor: &caller.actor,
            source: caller.source,
            entity: "customer",
            entity_id: 0,
            action: Action::Read,
            changes: vec![kefu_domain::audit::FieldChange {
                field: "export".into(),
                old: serde_json::Value::Null,
                new: serde_json::json!({ "rows": out.len() - 1 }),
            }],
        },
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// Writes rows as CSV in UTF-8 with a byte-order mark, which Excel needs
/// to show Chinese text correctly.
pub fn write_csv(rows: &[Vec<String>]) -> Result<Vec<u8>, AppError> {
    let mut writer = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    for row in rows {
        writer
            .write_record(row)
            .map_err(|e| AppError::Internal(e.to_string()))?;
    }
    writer
        .into_inner()
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// Writes rows as an XLSX workbook with one sheet, every cell as text
/// (so phone numbers and ids keep their leading zeros and digits).
pub fn write_xlsx(rows: &[Vec<String>]) -> Result<Vec<u8>, AppError> {
    let fail = |e: rust_xlsxwriter::XlsxError| AppError::Internal(e.to_string());
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r).map_err(|e| AppError::Internal(e.to_string()))?;
        for (c, value) in row.iter().enumerate() {
            let c = u16::try_from(c).map_err(|e| AppError::Internal(e.to_string()))?;
            if !value.is_empty() {
                sheet.write_string(r, c, value).map_err(fail)?;
            }
        }
    }
    workbook.save_to_buffer().map_err(fail)
}

/// A file kept for import, with its table read.
#[derive(Debug, Clone)]
pub struct UploadedTable {
    /// Upload id.
    pub id: i64,
    /// The file's name.
    pub file_name: String,
    /// Its format.
    pub format: FileFormat,
    /// Its content.
    pub table: Table,
    /// The mapping guessed from the header.
    pub guessed: Mapping,
}

/// Keeps an uploaded file for the caller to map, check and import;
/// refuses files that cannot be read at all.
pub async fn upload(
    app: &App,
    caller: &Caller,
    file_name: &str,
    bytes: &[u8],
) -> Result<i64, AppError> {
    caller.require(Permission::ImportCustomers)?;
    let agent_id = caller.agent_id.ok_or(AppError::Forbidden)?;
    if bytes.is_empty() {
        return Err(AppError::invalid("file", "must not be empty"));
    }
    let format = FileFormat::sniff(bytes);
    format.read(bytes)?;
    let name: String = file_name
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let mut tx = app.store.write().await?;
    let id = kefu_store::uploads::insert(&mut tx.conn(), agent_id, &name, format.as_str(), bytes)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// One of the caller's uploads, read.
pub async fn uploaded(app: &App, caller: &Caller, id: i64) -> Result<UploadedTable, AppError> {
    caller.require(Permission::ImportCustomers)?;
    let agent_id = caller.agent_id.ok_or(AppError::NotFound)?;
    let mut reader = app.store.read().await?;
    let upload = kefu_store::uploads::get(&mut reader.conn(), id, agent_id).await?;
    let format = FileFormat::sniff(&upload.content);
    let table = format.read(&upload.content)?;
    let fields = kefu_store::custom_fields::all(&mut reader.conn(), FieldTarget::Customer).await?;
    Ok(UploadedTable {
        id,
        file_name: upload.file_name,
        format,
        guessed: guess_mapping(&table.headers, &fields),
        table,
    })
}

/// Checks or imports one of the caller's uploads; a committed import
/// removes the upload (and any left over for more than a day).
pub async fn import_upload(
    app: &App,
    caller: &Caller,
    id: i64,
    mapping: &Mapping,
    dry_run: bool,
) -> Result<ImportReport, AppError> {
    let progress = ImportProgress::default();
    import_upload_tracked(app, caller, id, mapping, dry_run, &progress).await
}

async fn import_upload_tracked(
    app: &App,
    caller: &Caller,
    id: i64,
    mapping: &Mapping,
    dry_run: bool,
    progress: &ImportProgress,
) -> Result<ImportReport, AppError> {
    let upload = uploaded(app, caller, id).await?;
    let report = import_tracked(app, caller, &upload.table, mapping, dry_run, progress).await?;
    if report.committed {
        let mut tx = app.store.write().await?;
        let day_ago = chrono::Utc::now() - chrono::Duration::days(1);
        kefu_store::uploads::delete_used(&mut tx.conn(), id, day_ago).await?;
        tx.commit().await?;
    }
    Ok(report)
}

/// Imports a file sent whole (the API): the mapping is guessed from the
/// header, then `overrides` (column header → field code, or null to leave
/// the column out) are applied.
pub async fn import_file(
    app: &App,
    caller: &Caller,
    bytes: &[u8],
    overrides: &BTreeMap<String, Option<String>>,
    dry_run: bool,
) -> Result<ImportReport, AppError> {
    caller.require(Permission::ImportCustomers)?;
    let table = FileFormat::sniff(bytes).read(bytes)?;
    let fields =
        crate::custom_fields::list_fields(app, caller, Some(FieldTarget::Customer)).await?;
    let mut mapping = guess_mapping(&table.headers, &fields);
    for (header, code) in overrides {
        let Some(column) = table.headers.iter().position(|h| h == header) else {
            return Err(AppError::invalid(
                "mapping",
                format!("the file has no column {header:?}"),
            ));
        };
        mapping[column] = match code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(code) => Some(Target::parse(code, &fields).ok_or_else(|| {
                AppError::invalid(
                    "mapping",
                    format!(
                        "unknown field {code:?} for column {header:?}; valid: {}",
                        valid_codes(&fields)
                    ),
                )
            })?),
        };
    }
    import_customers(app, caller, &table, &mapping, dry_run).await
}

/// Every code a column may be mapped to, for error messages.
fn valid_codes(fields: &[CustomField]) -> String {
    ImportField::ALL
        .iter()
        .map(|f| f.as_str().to_owned())
        .chain(
            fields
                .iter()
                .filter(|f| f.active)
                .map(|f| format!("custom:{}", f.key)),
        )
        .collect::<Vec<_>>()
        .join(", ")
}

/// A mapping from a list of field codes per column (`""` leaves a column
/// out; `custom:<key>` names a custom field).
pub fn mapping_from_codes(codes: &[String], fields: &[CustomField]) -> Result<Mapping, AppError> {
    codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            let code = code.trim();
            if code.is_empty() {
                return Ok(None);
            }
            Target::parse(code, fields).map(Some).ok_or_else(|| {
                AppError::invalid(
                    format!("mapping[{i}]"),
                    format!("unknown field {code:?}; valid: {}", valid_codes(fields)),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_either_language_are_recognised() {
        let headers: Vec<String> = [
            "姓名",
            "手机号",
            "Email",
            "客户编号",
            "Phone",
            "备注",
            "???",
            "name",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mapping = guess_mapping(&headers, &[]);
        let field = |f| Some(Target::Field(f));
        assert_eq!(
            mapping,
            vec![
                field(ImportField::Name),
                field(ImportField::Phone),
                field(ImportField::Email),
                field(ImportField::ExternalId),
                field(ImportField::Phone),
                field(ImportField::Notes),
                None,
                None,
            ]
        );
        assert_eq!(guess_field("\u{feff}Full_Name"), Some(ImportField::Name));
    }

    #[test]
    fn csv_in_utf8_with_bom_and_in_gbk_reads_the_same() {
        let utf8 = "\u{feff}姓名,手机\n王芳,13812345678\n\n李娜,\"139 0000 1111\"\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(utf8.trim_start_matches('\u{feff}'));
        for bytes in [utf8.as_bytes().to_vec(), gbk.into_owned()] {
            let table = read_csv(&bytes).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(table.headers, ["姓名", "手机"]);
            assert_eq!(table.rows.len(), 2, "blank lines are skipped");
            assert_eq!(table.rows[1], ["李娜", "139 0000 1111"]);
        }
        assert!(read_csv(b"").is_err());
    }

    #[test]
    fn cell_values_are_normalised_before_checking() {
        assert_eq!(normalize_code(ImportField::Gender, "男"), "male");
        assert_eq!(normalize_code(ImportField::Grade, "A级"), "a");
        assert_eq!(normalize_code(ImportField::Grade, "VIP"), "vip");
        assert_eq!(normalize_code(ImportField::Language, "English"), "en");
        assert_eq!(
            normalize_code(ImportField::CompanySize, "100-999人"),
            "medium"
        );
        assert_eq!(
            normalize_code(ImportField::Birthday, "1990/05/17"),
            "1990-05-17"
        );
    }

    #[test]
    fn xlsx_written_is_read_back_the_same() {
        let rows = vec![
            vec!["姓名".to_owned(), "手机".to_owned(), "编号".to_owned()],
            vec![
                "王芳".to_owned(),
                "13812345678".to_owned(),
                "007".to_owned(),
            ],
            vec!["Emma Wilson".to_owned(), String::new(), "BSS-1".to_owned()],
        ];
        let bytes = write_xlsx(&rows).unwrap_or_default();
        assert_eq!(FileFormat::sniff(&bytes), FileFormat::Xlsx);
        let table = read_xlsx(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(table.headers, rows[0]);
        assert_eq!(table.rows, rows[1..]);
        assert!(read_xlsx(b"PK\x03\x04 not really").is_err());
        assert_eq!(excel_date(32_874.0), "1990-01-01");
    }

    #[test]
    fn exports_start_with_a_byte_order_mark() {
        let bytes = write_csv(&[vec!["name".into()], vec!["王芳, Jr.".into()]]).unwrap_or_default();
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        let text = String::from_utf8_lossy(&bytes[3..]).into_owned();
        assert_eq!(text, "name\n\"王芳, Jr.\"\n");
    }
}

/// New customers are written (and counted as written) this many at a time.
const WRITE_CHUNK: usize = 2_000;

/// How long a finished import's outcome stays for its page to show.
const KEEP_FINISHED: Duration = Duration::from_secs(3600);

/// How far an import has got, readable while it runs: every row is
/// checked first, then written; nothing is stored until all are written.
#[derive(Debug, Default)]
pub struct ImportProgress {
    rows: AtomicUsize,
    checked: AtomicUsize,
    written: AtomicUsize,
}

impl ImportProgress {
    /// Data rows in the file.
    pub fn rows(&self) -> usize {
        self.rows.load(Ordering::Relaxed)
    }

    /// Rows checked so far.
    pub fn checked(&self) -> usize {
        self.checked.load(Ordering::Relaxed)
    }

    /// Rows written so far (inside the one transaction).
    pub fn written(&self) -> usize {
        self.written.load(Ordering::Relaxed)
    }
}

/// An import of an upload that runs in the background, so the page can
/// show its progress; the rows still go in one transaction.
#[derive(Debug)]
pub struct ImportJob {
    agent_id: i64,
    /// The column mapping it runs with.
    pub mapping: Mapping,
    /// How far it has got.
    pub progress: ImportProgress,
    outcome: Mutex<Option<(Instant, Result<ImportReport, AppError>)>>,
}

impl ImportJob {
    /// What the import came to, once it has finished: the report (committed,
    /// or listing the rows that stopped it) or the failure.
    pub fn outcome(&self) -> Option<Result<ImportReport, AppError>> {
        self.outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(_, outcome)| outcome.clone())
    }

    fn finished_before(&self, moment: Instant) -> bool {
        self.outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|(at, _)| *at < moment)
    }
}

/// The imports this instance runs or ran within the hour, by upload id.
#[derive(Debug, Clone, Default)]
pub struct ImportJobs(Arc<Mutex<HashMap<i64, Arc<ImportJob>>>>);

/// Starts importing one of the caller's uploads in the background and
/// answers at once; [`import_job`] follows it. Starting again while it
/// runs (a second click) answers the running one.
pub async fn start_import(
    app: &App,
    caller: &Caller,
    id: i64,
    mapping: Mapping,
) -> Result<Arc<ImportJob>, AppError> {
    caller.require(Permission::ImportCustomers)?;
    let agent_id = caller.agent_id.ok_or(AppError::Forbidden)?;
    // The caller's own upload, or a 404 now rather than in the background.
    if !kefu_store::uploads::exists(&mut app.store.read().await?.conn(), id, agent_id).await? {
        return Err(AppError::NotFound);
    }
    let job = {
        let mut jobs = app.imports.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cutoff) = Instant::now().checked_sub(KEEP_FINISHED) {
            jobs.retain(|_, job| !job.finished_before(cutoff));
        }
        if let Some(running) = jobs.get(&id).filter(|j| j.outcome().is_none()) {
            return Ok(running.clone());
        }
        let job = Arc::new(ImportJob {
            agent_id,
            mapping,
            progress: ImportProgress::default(),
            outcome: Mutex::new(None),
        });
        jobs.insert(id, job.clone());
        job
    };
    let work = {
        let (app, caller, job) = (app.clone(), caller.clone(), job.clone());
        tokio::spawn(async move {
            import_upload_tracked(&app, &caller, id, &job.mapping, false, &job.progress).await
        })
    };
    let watcher = job.clone();
    tokio::spawn(async move {
        // A panic in the import still ends the job, so its page stops waiting.
        let outcome = work
            .await
            .unwrap_or_else(|e| Err(AppError::Internal(format!("the import stopped: {e}"))));
        *watcher
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), outcome));
    });
    Ok(job)
}

/// The caller's import of upload `id`, running or finished within the
/// hour, if this instance runs it.
pub fn import_job(app: &App, caller: &Caller, id: i64) -> Option<Arc<ImportJob>> {
    let agent_id = caller.agent_id?;
    app.imports
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
        .filter(|job| job.agent_id == agent_id)
        .cloned()
}
