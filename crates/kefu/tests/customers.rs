//! The customer archive over real HTTP, on SQLite or (with
//! `KEFU_TEST_DATABASE_URL`) PostgreSQL: one identity across contact
//! points, masking by role, optimistic locking, search, the 360° view,
//! orders, organizations, export and erasure — through the API and the
//! pages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_testing::{DEMO_PASSWORD, TestApp, error_field, spawn_demo_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin@xinghe.example";
const MANAGER: &str = "manager@xinghe.example";
const AGENT: &str = "agent@xinghe.example";
const SUPPORT: &str = "support@xinghe.example";
const QA: &str = "qa@xinghe.example";
const ANALYST: &str = "analyst@xinghe.example";

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &str,
    input: Option<Value>,
) -> (StatusCode, Value) {
    app.call(method, path, user, input).await
}

async fn create(app: &TestApp, user: &str, input: Value) -> Value {
    let (status, body) = call(app, Method::POST, "/api/v1/customers", user, Some(input)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn contact<'a>(customer: &'a Value, kind: &str) -> &'a Value {
    customer["contact_points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == kind)
        .map(|p| &p["value"])
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn one_customer_is_found_from_any_contact_point_and_masked_by_role() {
    let app = spawn_demo_app().await;
    let created = create(
        &app,
        AGENT,
        json!({
            "name": "张伟明",
            "contact_points": [
                {"kind": "phone", "value": "138 0013 8000", "label": "手机"},
                {"kind": "email", "value": "Zhang.WeiMing@Example.COM"},
                {"kind": "wechat", "value": "wx_zwm_2026"}
            ],
            "tags": ["宽带", " 宽带 ", "家庭融合"],
            "grade": "a"
        }),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    // The agent who created it still sees it masked: agents lack the
    // personal-data permission.
    assert_eq!(contact(&created, "phone"), "138****8000");
    assert_eq!(contact(&created, "email"), "z***@example.com");
    assert_eq!(created["tags"], json!(["家庭融合", "宽带"]));

    let (_, full) = call(
        &app,
        Method::GET,
        &format!("/api/v1/customers/{id}"),
        MANAGER,
        None,
    )
    .await;
    assert_eq!(contact(&full, "phone"), "+8613800138000");
    assert_eq!(contact(&full, "email"), "zhang.weiming@example.com");
    assert_eq!(full["contact_points"][0]["masked"], false);

    for written in ["13800138000", "+86 138-0013-8000", "0086 138 0013 8000"] {
        let path = format!(
            "/api/v1/customers/lookup?kind=phone&value={}",
            urlencode(written)
        );
        let (status, found) = call(&app, Method::GET, &path, AGENT, None).await;
        assert_eq!(status, StatusCode::OK, "{written}: {found}");
        assert_eq!(found["id"], id, "{written}");
    }
    let (_, by_email) = call(
        &app,
        Method::GET,
        "/api/v1/customers/lookup?kind=email&value=ZHANG.WEIMING%40example.com",
        ANALYST,
        None,
    )
    .await;
    assert_eq!(by_email["id"], id);
    let (status, _) = call(
        &app,
        Method::GET,
        "/api/v1/customers/lookup?kind=phone&value=13900000001",
        AGENT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, bad) = call(
        &app,
        Method::GET,
        "/api/v1/customers/lookup?kind=fax&value=1",
        AGENT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&bad), "kind");

    // Revealing is allowed to agents and recorded; quality inspectors may not.
    let reveal = format!("/api/v1/customers/{id}/reveal");
    let (status, revealed) = call(&app, Method::POST, &reveal, AGENT, None).await;
    assert_eq!(status, StatusCode::OK, "{revealed}");
    assert_eq!(revealed[0]["value"], "+8613800138000");
    let (status, _) = call(&app, Method::POST, &reveal, QA, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, reads) = call(
        &app,
        Method::GET,
        &format!("/api/v1/audit?entity=customer&entity_id={id}&action=read"),
        ADMIN,
        None,
    )
    .await;
    let reads = reads["items"].as_array().unwrap();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0]["actor_kind"], "agent");
    app.stop().await;
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn bad_input_names_the_field_and_saves_nothing() {
    let app = spawn_demo_app().await;
    let cases = [
        (
            json!({"name": "坏号码", "contact_points": [{"kind": "phone", "value": "12345"}]}),
            "contact_points[0].value",
        ),
        (
            json!({"name": "坏邮箱", "contact_points": [
                {"kind": "phone", "value": "13912345678"},
                {"kind": "email", "value": "not-an-email"}
            ]}),
            "contact_points[1].value",
        ),
        (json!({"name": "未知字段", "vip_level": 3}), "vip_level"),
        (json!({"name": "坏分级", "grade": "gold"}), "grade"),
        (
            json!({"name": "坏生日", "birthday": "2999-01-01"}),
            "birthday",
        ),
        (json!({"name": "", "grade": "a"}), "name"),
        (
            json!({"name": "坏组织", "organization_id": 999_999}),
            "organization_id",
        ),
        (json!({"name": "坏标签", "tags": ["a,b"]}), "tags[0]"),
    ];
    for (input, field) in cases {
        let (status, body) = call(
            &app,
            Method::POST,
            "/api/v1/customers",
            AGENT,
            Some(input.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{input}: {body}");
        assert_eq!(error_field(&body), field, "{input}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap_or("").is_empty());
    }
    let (_, grade) = call(
        &app,
        Method::POST,
        "/api/v1/customers",
        AGENT,
        Some(json!({"name": "x", "grade": "gold"})),
    )
    .await;
    assert!(
        grade["error"]["message"]
            .as_str()
            .unwrap()
            .contains("vip, a, b, c"),
        "{grade}"
    );
    // None of the refused customers exists.
    for name in [
        "坏号码",
        "坏邮箱",
        "未知字段",
        "坏分级",
        "坏生日",
        "坏组织",
        "坏标签",
    ] {
        let (_, found) = call(
            &app,
            Method::GET,
            &format!("/api/v1/customers?q={}", urlencode(name)),
            ADMIN,
            None,
        )
        .await;
        assert_eq!(found["items"], json!([]), "{name}");
    }
    // Analysts read; they do not write.
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/customers",
        ANALYST,
        Some(json!({"name": "只读"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn two_agents_editing_one_customer_never_overwrite_each_other() {
    let app = spawn_demo_app().await;
    let created = create(
        &app,
        AGENT,
        json!({"name": "Olivia Brown", "language": "en",
               "contact_points": [{"kind": "phone", "value": "+44 20 7946 0958"}]}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let version = created["version"].clone();
    let path = format!("/api/v1/customers/{id}");
    let (status, first) = call(
        &app,
        Method::PATCH,
        &path,
        AGENT,
        Some(
            json!({"version": version, "notes": "Prefers email", "grade": "b",
                     "contact_points": [{"kind": "phone", "value": "+44 20 7946 0000"}]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, second) = call(
        &app,
        Method::PATCH,
        &path,
        SUPPORT,
        Some(json!({"version": version, "notes": "Call after 18:00"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{second}");
    assert_eq!(second["error"]["current_version"], first["version"]);
    let (_, now) = call(&app, Method::GET, &path, MANAGER, None).await;
    assert_eq!(now["notes"], "Prefers email");
    assert_eq!(now["grade"], "b");
    assert_eq!(contact(&now, "phone"), "+442079460000");

    // The audit log records the change field by field, with contact
    // details masked so it never holds a second copy of them.
    let (_, history) = call(
        &app,
        Method::GET,
        &format!("/api/v1/audit?entity=customer&entity_id={id}"),
        ADMIN,
        None,
    )
    .await;
    let text = history.to_string();
    assert!(
        !text.contains("79460958") && !text.contains("79460000"),
        "{text}"
    );
    let update = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "update")
        .unwrap();
    let fields: Vec<&str> = update["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["contact_points", "grade", "notes"], "{update}");
    app.stop().await;
}

#[tokio::test]
async fn the_list_searches_filters_sorts_and_pages() {
    let app = spawn_demo_app().await;
    let (status, org) = call(
        &app,
        Method::POST,
        "/api/v1/organizations",
        AGENT,
        Some(json!({"name": "测试网络科技有限公司", "industry": "信息技术", "company_size": "small"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let org_id = org["id"].as_i64().unwrap();
    let mut ids = Vec::new();
    for (i, name) in ["周测试", "吴测试", "郑测试", "王测试", "Test Alpha"]
        .iter()
        .enumerate()
    {
        let c = create(
            &app,
            AGENT,
            json!({"name": name, "tags": ["检索标签"], "organization_id": org_id,
                   "region": "华东",
                   "contact_points": [{"kind": "phone", "value": format!("1770099{i:04}")}]}),
        )
        .await;
        ids.push(c["id"].as_i64().unwrap());
    }
    let list = |query: String| {
        let app = &app;
        async move {
            let (status, body) = call(
                app,
                Method::GET,
                &format!("/api/v1/customers?{query}"),
                MANAGER,
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            body
        }
    };
    let by_tag = list(format!("tag={}", urlencode("检索标签"))).await;
    assert_eq!(by_tag["items"].as_array().unwrap().len(), 5);
    assert_eq!(by_tag["items"][0]["id"], ids[4], "newest first");
    let by_phone = list("q=0990002".into()).await;
    assert_eq!(by_phone["items"].as_array().unwrap().len(), 1, "{by_phone}");
    assert_eq!(by_phone["items"][0]["id"], ids[2]);
    let by_name = list(format!("q={}", urlencode("测试"))).await;
    assert!(by_name["items"].as_array().unwrap().len() >= 4);
    let by_org = list(format!("organization_id={org_id}")).await;
    assert_eq!(by_org["items"].as_array().unwrap().len(), 5);
    assert_eq!(
        by_org["items"][0]["organization"]["name"],
        "测试网络科技有限公司"
    );
    let (_, org_view) = call(
        &app,
        Method::GET,
        &format!("/api/v1/organizations/{org_id}"),
        ANALYST,
        None,
    )
    .await;
    assert_eq!(org_view["customer_count"], 5);

    // Sorted by name, two at a time, every customer exactly once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = list(format!(
            "organization_id={org_id}&sort=name&limit=2&cursor={}",
            urlencode(&cursor)
        ))
        .await;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    // Chinese names by their pinyin, among the Latin ones.
    assert_eq!(seen, ["Test Alpha", "王测试", "吴测试", "郑测试", "周测试"]);

    // Nothing here is twelve months old yet.
    let stale = list(format!("organization_id={org_id}&stale_months=12")).await;
    assert_eq!(stale["items"], json!([]));
    let (status, bad) = call(
        &app,
        Method::GET,
        "/api/v1/customers?sort=size",
        MANAGER,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&bad), "sort");
    // The demo archive is there to search.
    let demo = list("grade=vip&limit=200".into()).await;
    assert!(!demo["items"].as_array().unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_360_view_shows_orders_totals_timeline_and_possible_duplicates() {
    let app = spawn_demo_app().await;
    let first = create(
        &app,
        AGENT,
        json!({"name": "刘晓东", "contact_points": [{"kind": "phone", "value": "186 0000 1111"}]}),
    )
    .await;
    let id = first["id"].as_i64().unwrap();
    let orders = format!("/api/v1/customers/{id}/orders");
    for (amount, product) in [("199.50", "5G 尊享套餐"), ("100", "光猫更换")] {
        let (status, order) = call(
            &app,
            Method::POST,
            &orders,
            AGENT,
            Some(json!({"ordered_at": "2026-10-01T08:00:00Z", "amount": amount, "product": product, "channel": "营业厅"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
    }
    let (status, bad) = call(
        &app,
        Method::POST,
        &orders,
        AGENT,
        Some(json!({"ordered_at": "2026-10-01T08:00:00Z", "amount": "1.999", "product": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&bad), "amount");
    let second = create(
        &app,
        AGENT,
        json!({"name": "刘晓冬", "contact_points": [{"kind": "phone", "value": "18600001111"}]}),
    )
    .await;
    let (status, profile) = call(
        &app,
        Method::GET,
        &format!("/api/v1/customers/{id}/profile"),
        AGENT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["totals"][0]["currency"], "CNY");
    assert_eq!(profile["totals"][0]["orders"], 2);
    assert_eq!(profile["totals"][0]["amount_minor"], 29950);
    assert_eq!(profile["recent_orders"].as_array().unwrap().len(), 2);
    assert_eq!(profile["possible_duplicates"], json!([second["id"]]));
    let kinds: Vec<&str> = profile["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"change") && kinds.contains(&"order"),
        "{kinds:?}"
    );
    assert_eq!(profile["customer"]["contact_points"][0]["masked"], true);
    // The lookup picks the oldest of the two holders, the same for every channel.
    let (_, found) = call(
        &app,
        Method::GET,
        "/api/v1/customers/lookup?kind=phone&value=18600001111",
        AGENT,
        None,
    )
    .await;
    assert_eq!(found["id"], id);
    app.stop().await;
}

#[tokio::test]
async fn personal_data_is_exported_and_erased_on_request_and_both_are_recorded() {
    let app = spawn_demo_app().await;
    let created = create(
        &app,
        AGENT,
        json!({"name": "Hannah Kim", "birthday": "1990-05-17", "street": "文三路478号",
               "province": "浙江省", "city": "杭州市", "grade": "vip",
               "contact_points": [{"kind": "phone", "value": "13700001234"},
                                   {"kind": "email", "value": "hannah@example.com"}]}),
    )
    .await;
    let id = created["id"].as_i64().unwrap();
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/customers/{id}/orders"),
        AGENT,
        Some(json!({"ordered_at": "2026-09-01T00:00:00Z", "amount": 88, "product": "IPTV"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let export = format!("/api/v1/customers/{id}/export");
    let (status, _) = call(&app, Method::GET, &export, AGENT, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, data) = call(&app, Method::GET, &export, MANAGER, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contact(&data["customer"], "email"), "hannah@example.com");
    assert_eq!(data["orders"].as_array().unwrap().len(), 1);
    assert_eq!(data["customer"]["birthday"], "1990-05-17");

    let erase = format!("/api/v1/customers/{id}/erase");
    let version = data["customer"]["version"].clone();
    let (status, _) = call(
        &app,
        Method::POST,
        &erase,
        MANAGER,
        Some(json!({"version": version})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, stale) = call(
        &app,
        Method::POST,
        &erase,
        ADMIN,
        Some(json!({"version": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    let (status, erased) = call(
        &app,
        Method::POST,
        &erase,
        ADMIN,
        Some(json!({"version": version})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(erased["name"], format!("#{id}"));
    assert_eq!(erased["contact_points"], json!([]));
    assert_eq!(erased["birthday"], Value::Null);
    assert_eq!(erased["street"], "");
    assert_eq!(
        erased["grade"], "vip",
        "classification is kept for statistics"
    );
    assert!(erased["erased_at"].is_string());
    let (status, _) = call(
        &app,
        Method::GET,
        "/api/v1/customers/lookup?kind=email&value=hannah%40example.com",
        AGENT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, profile) = call(
        &app,
        Method::GET,
        &format!("/api/v1/customers/{id}/profile"),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(profile["totals"][0]["orders"], 1, "orders stay for counts");
    let (status, refused) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/customers/{id}"),
        ADMIN,
        Some(json!({"version": erased["version"], "name": "Hannah"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    // The export and the erasure are in the audit log, which holds no copy
    // of the erased details.
    let (_, history) = call(
        &app,
        Method::GET,
        &format!("/api/v1/audit?entity=customer&entity_id={id}"),
        ADMIN,
        None,
    )
    .await;
    let text = history.to_string();
    assert!(text.contains("\"export\""), "{text}");
    for secret in ["13700001234", "hannah@example.com", "1990-05-17", "文三路"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let (_, listed) = call(
        &app,
        Method::GET,
        "/api/v1/customers?q=Hannah%20Kim",
        ADMIN,
        None,
    )
    .await;
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != id),
        "erased customers leave the list"
    );
    app.stop().await;
}

#[tokio::test]
async fn organizations_have_unique_names_and_optimistic_locking() {
    let app = spawn_demo_app().await;
    let (status, org) = call(
        &app,
        Method::POST,
        "/api/v1/organizations",
        MANAGER,
        Some(json!({"name": "Blue Harbor Ltd", "company_size": "medium"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let (status, dup) = call(
        &app,
        Method::POST,
        "/api/v1/organizations",
        MANAGER,
        Some(json!({"name": "blue harbor LTD"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{dup}");
    assert_eq!(error_field(&dup), "name");
    let path = format!("/api/v1/organizations/{}", org["id"]);
    let (status, bad) = call(
        &app,
        Method::PATCH,
        &path,
        MANAGER,
        Some(json!({"version": org["version"], "name": "Blue Harbor Ltd", "company_size": "huge"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&bad), "company_size");
    let (status, saved) = call(
        &app,
        Method::PATCH,
        &path,
        AGENT,
        Some(json!({"version": org["version"], "name": "Blue Harbor Limited", "region": "华南"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (status, _) = call(
        &app,
        Method::PATCH,
        &path,
        MANAGER,
        Some(json!({"version": org["version"], "name": "Blue Harbour"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, list) = call(
        &app,
        Method::GET,
        "/api/v1/organizations?q=harbor",
        QA,
        None,
    )
    .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Blue Harbor Limited"), "{names:?}");
    app.stop().await;
}

// ------------------------------------------------------------------ pages

#[tokio::test]
async fn agents_create_find_and_edit_customers_in_the_pages() {
    let app = spawn_demo_app().await;
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let form = [
        ("name", "陈雪梅"),
        ("gender", "female"),
        ("phones", "138 0013 9999, 12345"),
        ("emails", "xuemei.chen@qq.com"),
        ("tags", "宽带，学生"),
        ("grade", "b"),
        ("province", "四川省"),
        ("city", "成都市"),
        ("language", "zh-CN"),
    ];
    let refused = agent.post_from("/customers/new", "/customers", &form).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("data-field=\"phones\""),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("不是有效的电话号码"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"陈雪梅\""), "input kept");
    let mut fixed = form.to_vec();
    fixed[2] = ("phones", "138 0013 9999");
    let created = agent
        .post_from("/customers/new", "/customers", &fixed)
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = created.location.unwrap();
    let path = location.split('?').next().unwrap().to_owned();
    let page = agent.get(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("陈雪梅") && page.body.contains("客户已创建"));
    assert!(page.body.contains("138****9999"), "masked for agents");
    assert!(!page.body.contains("13800139999"));
    assert!(page.body.contains("学生"));

    let revealed = agent.post_from(&path, &format!("{path}/reveal"), &[]).await;
    assert_eq!(revealed.status, StatusCode::OK);
    assert!(revealed.body.contains("13800139999"), "{}", revealed.body);

    let list = agent
        .get(&format!("/customers?q={}", urlencode("0013 9999")))
        .await;
    assert!(
        list.body.contains(&format!("href=\"{path}\"")),
        "{}",
        list.body
    );

    // Two editors: the first save wins, the second gets its input back.
    let edit = agent.get(&format!("{path}/edit")).await;
    assert!(edit.body.contains("13800139999"));
    let version = edit
        .body
        .split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let mut first = fixed.clone();
    first.push(("version", &version));
    first[0] = ("name", "陈雪梅（已核实）");
    let saved = agent
        .post_from(&format!("{path}/edit"), &format!("{path}/edit"), &first)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let manager = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let mut second = fixed.clone();
    second.push(("version", &version));
    second[0] = ("name", "陈雪梅-旧");
    let conflict = manager
        .post_from(&format!("{path}/edit"), &format!("{path}/edit"), &second)
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert!(
        conflict.body.contains("陈雪梅-旧"),
        "the second editor's input is kept"
    );
    assert!(conflict.body.contains("data-field=\"version\""));
    let now = manager.get(&path).await;
    assert!(now.body.contains("陈雪梅（已核实）"));
    assert!(now.body.contains("13800139999"), "managers see it unmasked");

    // Orders from the 360° page, read in the agent's time zone.
    let order = agent
        .post_from(
            &path,
            &format!("{path}/orders"),
            &[
                ("ordered_at", "2026-11-01T10:30"),
                ("amount", "1,980"),
                ("product", "千兆宽带"),
                ("currency", "CNY"),
            ],
        )
        .await;
    assert_eq!(order.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(order.body.contains("data-field=\"amount\""));
    let order = agent
        .post_from(
            &path,
            &format!("{path}/orders"),
            &[
                ("ordered_at", "2026-11-01T10:30"),
                ("amount", "1980"),
                ("product", "千兆宽带"),
                ("currency", "CNY"),
            ],
        )
        .await;
    assert_eq!(order.status, StatusCode::SEE_OTHER, "{}", order.body);
    let view = agent.get(&path).await;
    assert!(view.body.contains("1,980.00 CNY"), "{}", view.body);
    assert!(view.body.contains("2026年11月01日 10:30"), "{}", view.body);
    app.stop().await;
}

#[tokio::test]
async fn roles_see_the_archive_as_their_permissions_allow() {
    let app = spawn_demo_app().await;
    let analyst = app.signed_in(ANALYST, DEMO_PASSWORD).await;
    let list = analyst.get("/customers").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("data-nav=\"customers\""));
    assert!(
        list.body.contains("Customers"),
        "the analyst works in English"
    );
    assert!(!list.body.contains("id=\"new-customer\""));
    assert!(list.body.contains("****"), "masked for analysts");
    let first = list
        .body
        .split("<a href=\"/customers/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let view = analyst.get(&format!("/customers/{first}")).await;
    assert_eq!(view.status, StatusCode::OK);
    assert!(!view.body.contains("id=\"reveal\""));
    assert!(!view.body.contains("id=\"edit-customer\""));
    let qa = app.signed_in(QA, DEMO_PASSWORD).await;
    let refused = qa
        .post_from("/customers", "/customers", &[("name", "不该存在")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let refused = qa
        .post_from("/customers", &format!("/customers/{first}/reveal"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Admins erase through the page, only with the box ticked.
    let admin = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let page = admin.get(&format!("/customers/{first}")).await;
    let version = page
        .body
        .split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let erase = format!("/customers/{first}/erase");
    let unconfirmed = admin
        .post_from(
            &format!("/customers/{first}"),
            &erase,
            &[("version", &version)],
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    let erased = admin
        .post_from(
            &format!("/customers/{first}"),
            &erase,
            &[("version", &version), ("confirm", "1")],
        )
        .await;
    assert_eq!(erased.status, StatusCode::SEE_OTHER, "{}", erased.body);
    let after = admin.get(&format!("/customers/{first}")).await;
    assert!(after.body.contains("id=\"erased\""));
    assert!(after.body.contains(&format!("#{first}")));
    let organizations = admin.get("/organizations").await;
    assert_eq!(organizations.status, StatusCode::OK);
    assert!(organizations.body.contains("杭州云帆科技有限公司"));
    app.stop().await;
}

#[tokio::test]
async fn duplicates_are_found_and_merged_into_one_customer() {
    let app = spawn_demo_app().await;
    let keep = create(
        &app,
        AGENT,
        json!({"name": "马建国", "notes": "老用户",
               "contact_points": [{"kind": "phone", "value": "19900001234"}], "tags": ["宽带"]}),
    )
    .await;
    let fold = create(
        &app,
        AGENT,
        json!({"name": "马建国", "street": "长江路100号", "grade": "vip", "external_id": "BSS-MERGE-1",
               "contact_points": [{"kind": "phone", "value": "199 0000 1234"},
                                   {"kind": "email", "value": "ma.jianguo@163.com"}],
               "tags": ["IPTV"]}),
    )
    .await;
    let (keep_id, fold_id) = (keep["id"].as_i64().unwrap(), fold["id"].as_i64().unwrap());
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/customers/{fold_id}/orders"),
        AGENT,
        Some(json!({"ordered_at": "2026-08-08T08:00:00Z", "amount": "169", "product": "家庭融合套餐"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(
        &app,
        Method::GET,
        "/api/v1/customers/duplicates",
        AGENT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, groups) = call(
        &app,
        Method::GET,
        "/api/v1/customers/duplicates",
        MANAGER,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{groups}");
    let group = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "+8619900001234")
        .unwrap_or_else(|| panic!("no group for the shared phone: {groups}"));
    assert_eq!(group["reason"], "phone");
    let ids: Vec<i64> = group["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [keep_id, fold_id]);

    let merge = |survivor_version: &Value| {
        json!({"survivor_id": keep_id, "survivor_version": survivor_version,
               "duplicate_id": fold_id, "duplicate_version": fold["version"]})
    };
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/customers/merge",
        MANAGER,
        Some(merge(&json!(99))),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, merged) = call(
        &app,
        Method::POST,
        "/api/v1/customers/merge",
        MANAGER,
        Some(merge(&keep["version"])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["id"], keep_id);
    assert_eq!(merged["grade"], "vip", "the better grade wins");
    assert_eq!(merged["external_id"], "BSS-MERGE-1");
    assert_eq!(merged["street"], "长江路100号", "empty fields are filled");
    assert_eq!(merged["notes"], "老用户");
    assert_eq!(merged["tags"], json!(["IPTV", "宽带"]));
    assert_eq!(contact(&merged, "email"), "ma.jianguo@163.com");
    assert_eq!(merged["contact_points"].as_array().unwrap().len(), 2);
    let (_, profile) = call(
        &app,
        Method::GET,
        &format!("/api/v1/customers/{keep_id}/profile"),
        MANAGER,
        None,
    )
    .await;
    assert_eq!(profile["totals"][0]["orders"], 1, "orders moved");
    assert_eq!(profile["possible_duplicates"], json!([]));
    let (_, folded) = call(
        &app,
        Method::GET,
        &format!("/api/v1/customers/{fold_id}"),
        MANAGER,
        None,
    )
    .await;
    assert_eq!(folded["merged_into_id"], keep_id);
    let (_, found) = call(
        &app,
        Method::GET,
        "/api/v1/customers/lookup?kind=email&value=ma.jianguo%40163.com",
        AGENT,
        None,
    )
    .await;
    assert_eq!(found["id"], keep_id);
    let (_, again) = call(
        &app,
        Method::GET,
        "/api/v1/customers/duplicates",
        MANAGER,
        None,
    )
    .await;
    assert!(!again.to_string().contains("+8619900001234"), "{again}");
    let (status, refused) = call(
        &app,
        Method::POST,
        "/api/v1/customers/merge",
        MANAGER,
        Some(
            json!({"survivor_id": keep_id, "survivor_version": merged["version"],
                     "duplicate_id": keep_id, "duplicate_version": merged["version"]}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&refused), "duplicate_id");
    app.stop().await;
}

#[tokio::test]
async fn managers_merge_duplicates_on_the_review_page() {
    let app = spawn_demo_app().await;
    let manager = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let page = manager.get("/customers/duplicates").await;
    assert_eq!(page.status, StatusCode::OK);
    // The demo archive holds a few customers sharing a phone on purpose.
    let values: Vec<String> = page
        .body
        .match_indices("name=\"survivor\" value=\"")
        .map(|(i, m)| {
            page.body[i + m.len()..]
                .split('"')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(values.len() >= 2, "{}", page.body);
    let duplicates: Vec<String> = page
        .body
        .match_indices("name=\"duplicate\" value=\"")
        .map(|(i, m)| {
            page.body[i + m.len()..]
                .split('"')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    let survivor = values[0].clone();
    let duplicate = duplicates[1].clone();
    let merged = manager
        .post_from(
            "/customers/duplicates",
            "/customers/merge",
            &[("survivor", &survivor), ("duplicate", &duplicate)],
        )
        .await;
    assert_eq!(merged.status, StatusCode::SEE_OTHER, "{}", merged.body);
    let survivor_id = survivor.split(':').next().unwrap();
    assert_eq!(
        merged.location.as_deref(),
        Some(format!("/customers/{survivor_id}?merged=1").as_str())
    );
    let duplicate_id = duplicate.split(':').next().unwrap();
    let folded = manager.get(&format!("/customers/{duplicate_id}")).await;
    assert!(
        folded.body.contains("id=\"merged-into\""),
        "{}",
        folded.body
    );
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    assert_eq!(
        agent.get("/customers/duplicates").await.status,
        StatusCode::FORBIDDEN
    );
    app.stop().await;
}

// ------------------------------------------------------------------ import and export

async fn import(app: &TestApp, user: &str, query: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let response = app
        .as_user(
            Method::POST,
            &format!("/api/v1/customers/import?{query}"),
            user,
        )
        .header("content-type", "text/csv")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn lookup_phone(app: &TestApp, phone: &str) -> StatusCode {
    call(
        app,
        Method::GET,
        &format!("/api/v1/customers/lookup?kind=phone&value={phone}"),
        MANAGER,
        None,
    )
    .await
    .0
}

const IMPORT_CSV: &str = "姓名,手机号,邮箱,客户编号,组织,分级,标签,性别\n\
赵丽华,13711110001,lihua.zhao@qq.com,IMP-001,成都测试贸易有限公司,A级,\"宽带,导入批次\",女\n\
钱志强,137 1111 0002,,IMP-002,成都测试贸易有限公司,VIP,导入批次,男\n\
Grace Ho,1371111000,grace@example.com,IMP-003,,B,导入批次,F\n";

#[tokio::test]
async fn a_file_with_a_bad_row_imports_nothing_and_says_where() {
    let app = spawn_demo_app().await;
    let (status, refused) = import(&app, MANAGER, "", IMPORT_CSV.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "import_rejected");
    let errors = refused["report"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["row"], 4);
    assert_eq!(errors[0]["column"], "手机号");
    assert!(
        errors[0]["reason"]
            .as_str()
            .unwrap()
            .contains("phone number")
    );
    assert_eq!(
        lookup_phone(&app, "13711110001").await,
        StatusCode::NOT_FOUND
    );

    let fixed = IMPORT_CSV.replace("1371111000,", "13711110003,");
    let (status, dry) = import(&app, MANAGER, "dry_run=true", fixed.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["committed"], false);
    assert_eq!(dry["created"], 3);
    assert_eq!(dry["organizations_created"], 1);
    assert_eq!(
        lookup_phone(&app, "13711110001").await,
        StatusCode::NOT_FOUND,
        "a dry run writes nothing"
    );

    let (status, done) = import(&app, MANAGER, "", fixed.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["committed"], true);
    assert_eq!(done["created"], 3);
    let (_, zhao) = call(
        &app,
        Method::GET,
        "/api/v1/customers/lookup?kind=phone&value=13711110001",
        MANAGER,
        None,
    )
    .await;
    assert_eq!(zhao["grade"], "a");
    assert_eq!(zhao["gender"], "female");
    assert_eq!(zhao["tags"], json!(["宽带", "导入批次"]));
    assert_eq!(zhao["organization"]["name"], "成都测试贸易有限公司");

    // Importing again updates by external id instead of duplicating.
    let again = format!(
        "{}Sun Wei,13711110004,,IMP-004,,,导入批次,\n",
        fixed.replace(
            "IMP-002,成都测试贸易有限公司,VIP",
            "IMP-002,成都测试贸易有限公司,B"
        )
    );
    let (status, second) = import(&app, MANAGER, "", again.into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(
        (second["created"].clone(), second["updated"].clone()),
        (json!(1), json!(3))
    );
    let (_, batch) = call(
        &app,
        Method::GET,
        &format!("/api/v1/customers?tag={}", urlencode("导入批次")),
        MANAGER,
        None,
    )
    .await;
    assert_eq!(batch["items"].as_array().unwrap().len(), 4);
    let (_, qian) = call(
        &app,
        Method::GET,
        "/api/v1/customers/lookup?kind=phone&value=13711110002",
        MANAGER,
        None,
    )
    .await;
    assert_eq!(qian["grade"], "b");

    // Repeated external ids in one file, and who may import.
    let repeated = "姓名,客户编号\n甲,R-1\n乙,R-1\n";
    let (status, body) = import(&app, MANAGER, "dry_run=true", repeated.into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["report"]["errors"][0]["row"], 3);
    assert_eq!(body["report"]["errors"][0]["column"], "客户编号");
    let (status, _) = import(&app, AGENT, "dry_run=true", repeated.into()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = import(
        &app,
        MANAGER,
        &format!(
            "dry_run=true&mapping={}",
            urlencode(r#"{"客户编号":"shoe_size"}"#)
        ),
        repeated.into(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "mapping");
    app.stop().await;
}

#[tokio::test]
async fn excel_files_and_gbk_csv_import_and_lists_export() {
    let app = spawn_demo_app().await;
    let rows: Vec<Vec<String>> = [
        ["客户姓名", "Mobile", "Notes", "Company Size"],
        ["郑海燕", "13822220001", "来自 Excel", "100-999人"],
        ["Liam Taylor", "+44 20 7946 1234", "from Excel", "small"],
    ]
    .iter()
    .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
    .collect();
    let xlsx = kefu_app::import::write_xlsx(&rows).unwrap();
    let (status, done) = import(&app, ADMIN, "", xlsx).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["created"], 2);
    let (gbk, _, _) = encoding_rs::GBK.encode("姓名,电话,地区\n冯建国,13822220003,华南\n");
    let (status, done) = import(&app, ADMIN, "", gbk.into_owned()).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let (_, feng) = call(
        &app,
        Method::GET,
        "/api/v1/customers/lookup?kind=phone&value=13822220003",
        MANAGER,
        None,
    )
    .await;
    assert_eq!(feng["name"], "冯建国");
    assert_eq!(feng["region"], "华南");

    let export = |format: &str, user: &str| {
        app.as_user(
            Method::GET,
            &format!("/api/v1/customers/export?format={format}&q=1382222"),
            user,
        )
        .send()
    };
    assert_eq!(
        export("csv", AGENT).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let csv = export("csv", MANAGER).await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("customers.csv")
    );
    let bytes = csv.bytes().await.unwrap();
    let table = kefu_app::import::read_csv(&bytes).unwrap();
    assert_eq!(table.headers[1], "name");
    assert_eq!(table.rows.len(), 2, "{table:?}");
    assert!(
        table.rows.iter().any(|r| r[6] == "+8613822220001"),
        "managers export unmasked"
    );
    let xlsx = export("xlsx", MANAGER)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let sheet = kefu_app::import::read_xlsx(&xlsx).unwrap();
    assert_eq!(sheet.rows.len(), 2);
    // An exported file imports back as updates (by Kefu id), not duplicates.
    let (status, back) = import(&app, ADMIN, "dry_run=true", bytes.to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(
        (back["created"].clone(), back["updated"].clone()),
        (json!(0), json!(2))
    );
    let unknown = "id,name\n999999,Nobody\n";
    let (status, body) = import(&app, ADMIN, "dry_run=true", unknown.into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["report"]["errors"][0]["column"], "id");
    let (_, history) = call(
        &app,
        Method::GET,
        "/api/v1/audit?entity=customer&entity_id=0&action=read",
        ADMIN,
        None,
    )
    .await;
    assert_eq!(
        history["items"].as_array().unwrap().len(),
        2,
        "both exports recorded"
    );
    app.stop().await;
}

/// Follows an import's progress page until it shows the outcome; every
/// page on the way shows the counts and refreshes itself.
async fn import_outcome(visitor: &kefu_testing::Visitor, path: &str) -> kefu_testing::PageResponse {
    assert!(path.ends_with("/progress"), "{path}");
    for _ in 0..1200 {
        let page = visitor.get(path).await;
        if !page.body.contains("id=\"import-running\"") {
            return page;
        }
        assert!(
            page.body.contains("http-equiv=\"refresh\""),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("<progress id=\"import-progress\""),
            "{}",
            page.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the import at {path} did not finish in a minute");
}

#[tokio::test]
async fn managers_import_through_the_upload_and_mapping_pages() {
    let app = spawn_demo_app().await;
    let manager = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let csv = "名字,手机,备注\n卫东,13933330001,页面导入\n卫西,1393333,页面导入\n";
    let uploaded = manager
        .post_file(
            "/customers/import",
            "/customers/import",
            "batch.csv",
            csv.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.body);
    let review_path = uploaded.location.unwrap();
    let review = manager.get(&review_path).await;
    assert_eq!(review.status, StatusCode::OK);
    // "名字" is not a header Kefu knows: the name is unmatched until chosen.
    assert!(review.body.contains("id=\"row-errors\""), "{}", review.body);
    assert!(review.body.contains("没有列对应“姓名”"), "{}", review.body);
    let checked = manager
        .post_from(
            &review_path,
            &review_path,
            &[
                ("map_0", "name"),
                ("map_1", "phone"),
                ("map_2", "notes"),
                ("action", "check"),
            ],
        )
        .await;
    assert_eq!(checked.status, StatusCode::OK);
    assert!(
        checked.body.contains("<td>3</td><td>手机</td>"),
        "{}",
        checked.body
    );
    let started = manager
        .post_from(
            &review_path,
            &review_path,
            &[
                ("map_0", "name"),
                ("map_1", "phone"),
                ("map_2", "notes"),
                ("action", "commit"),
            ],
        )
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let refused = import_outcome(&manager, &started.location.unwrap()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("id=\"row-errors\""),
        "{}",
        refused.body
    );
    assert_eq!(
        lookup_phone(&app, "13933330001").await,
        StatusCode::NOT_FOUND
    );

    let fixed = csv.replace("1393333,", "13933330002,");
    let uploaded = manager
        .post_file(
            "/customers/import",
            "/customers/import",
            "batch.csv",
            fixed.into_bytes(),
        )
        .await;
    let review_path = uploaded.location.unwrap();
    let started = manager
        .post_from(
            &review_path,
            &review_path,
            &[
                ("map_0", "name"),
                ("map_1", "phone"),
                ("map_2", "notes"),
                ("action", "commit"),
            ],
        )
        .await;
    let done = import_outcome(&manager, &started.location.unwrap()).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.body.contains("id=\"import-done\""), "{}", done.body);
    assert_eq!(lookup_phone(&app, "13933330002").await, StatusCode::OK);
    // The upload is gone once imported; another agent never sees it.
    assert_eq!(
        manager.get(&review_path).await.status,
        StatusCode::NOT_FOUND
    );
    let broken = manager
        .post_file(
            "/customers/import",
            "/customers/import",
            "x.xlsx",
            b"PK\x03\x04broken".to_vec(),
        )
        .await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        broken.body.contains("不是可读取的 Excel"),
        "{}",
        broken.body
    );
    let list = manager.get("/customers").await;
    assert!(list.body.contains("id=\"export-xlsx\""));
    app.stop().await;
}

// ------------------------------------------------------------------ custom fields

#[tokio::test]
async fn custom_fields_are_defined_filled_filtered_and_exported() {
    let app = spawn_demo_app().await;
    let define = |input: Value| {
        call(
            &app,
            Method::POST,
            "/api/v1/custom-fields",
            ADMIN,
            Some(input),
        )
    };
    let (status, contract) = define(json!({"key": "contract_no", "label_zh": "合同号", "label_en": "Contract no.", "kind": "text"})).await;
    assert_eq!(status, StatusCode::CREATED, "{contract}");
    let (status, _) = define(json!({"key": "plans", "label_zh": "已订套餐", "label_en": "Plans", "kind": "multiselect", "options": ["5G", "宽带", "IPTV"]})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = define(json!({"key": "since", "label_zh": "入网日期", "label_en": "Customer since", "kind": "date"})).await;
    assert_eq!(status, StatusCode::CREATED);
    for (input, field) in [
        (
            json!({"key": "x1", "label_zh": "甲", "label_en": "A", "kind": "colour"}),
            "kind",
        ),
        (
            json!({"key": "x2", "label_zh": "甲", "label_en": "A", "kind": "select"}),
            "options",
        ),
        (
            json!({"key": "contract_no", "label_zh": "甲", "label_en": "A", "kind": "text"}),
            "key",
        ),
        (
            json!({"key": "Bad Key", "label_zh": "甲", "label_en": "A", "kind": "text"}),
            "key",
        ),
    ] {
        let (status, body) = define(input.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{input}: {body}");
        assert_eq!(error_field(&body), field, "{input}");
    }
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/custom-fields",
        MANAGER,
        Some(json!({"key": "x3", "label_zh": "甲", "label_en": "A", "kind": "text"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let created = create(
        &app,
        AGENT,
        json!({"name": "许敏", "custom_fields": {"contract_no": "HT-2026-001", "plans": ["5G", "IPTV"], "since": "2019-06-01"}}),
    )
    .await;
    assert_eq!(
        created["custom_fields"],
        json!({"contract_no": "HT-2026-001", "plans": ["5G", "IPTV"], "since": "2019-06-01"})
    );
    for (custom, field) in [
        (json!({"colour": "red"}), "custom_fields.colour"),
        (json!({"plans": ["4G"]}), "custom_fields.plans"),
        (json!({"since": "2019-13-01"}), "custom_fields.since"),
    ] {
        let (status, body) = call(
            &app,
            Method::POST,
            "/api/v1/customers",
            AGENT,
            Some(json!({"name": "坏字段", "custom_fields": custom})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(error_field(&body), field);
    }
    let id = created["id"].as_i64().unwrap();
    let (status, changed) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/customers/{id}"),
        AGENT,
        Some(json!({"version": created["version"], "custom_fields": {"plans": null}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["custom_fields"]["plans"], json!([]));
    assert_eq!(
        changed["custom_fields"]["contract_no"], "HT-2026-001",
        "untouched keys keep their values"
    );
    let (_, found) = call(
        &app,
        Method::GET,
        "/api/v1/customers?field=contract_no&value=HT-2026-001",
        ANALYST,
        None,
    )
    .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    let (status, bad) = call(
        &app,
        Method::GET,
        "/api/v1/customers?field=shoe&value=1",
        ANALYST,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&bad), "field");
    let csv = app
        .as_user(
            Method::GET,
            "/api/v1/customers/export?field=contract_no&value=HT-2026-001",
            MANAGER,
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let table = kefu_app::import::read_csv(&csv).unwrap();
    let column = table
        .headers
        .iter()
        .position(|h| h == "contract_no")
        .unwrap();
    assert_eq!(table.rows[0][column], "HT-2026-001");
    // Making a field required applies to every later save.
    let (status, _) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/custom-fields/{}", contract["id"]),
        ADMIN,
        Some(json!({"version": contract["version"], "label_zh": "合同号", "label_en": "Contract no.", "required": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/customers",
        AGENT,
        Some(json!({"name": "无合同"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "custom_fields.contract_no");
    app.stop().await;
}

#[tokio::test]
async fn admins_add_custom_fields_and_agents_fill_them_in_the_form() {
    let app = spawn_demo_app().await;
    let admin = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let refused = admin
        .post_from(
            "/settings/custom-fields",
            "/settings/custom-fields",
            &[
                ("key", "plan"),
                ("label_zh", "套餐"),
                ("label_en", "Plan"),
                ("kind", "select"),
                ("options", ""),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("data-field=\"options\""),
        "{}",
        refused.body
    );
    let saved = admin
        .post_from(
            "/settings/custom-fields",
            "/settings/custom-fields",
            &[
                ("key", "plan"),
                ("label_zh", "套餐"),
                ("label_en", "Plan"),
                ("kind", "select"),
                ("options", "5G 畅享, 千兆宽带"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let list = admin.get("/settings/custom-fields").await;
    assert!(list.body.contains("<code>plan</code>"));

    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let form = agent.get("/customers/new").await;
    assert!(form.body.contains("name=\"cf_plan\""), "{}", form.body);
    let created = agent
        .post_from(
            "/customers/new",
            "/customers",
            &[
                ("name", "贺超"),
                ("grade", "c"),
                ("gender", "unknown"),
                ("language", "zh-CN"),
                ("cf_plan", "千兆宽带"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let view = agent.get(&created.location.unwrap()).await;
    assert!(
        view.body
            .contains("class=\"custom-field\"><th>套餐</th><td>千兆宽带</td>"),
        "{}",
        view.body
    );
    let agent_settings = agent.get("/settings/custom-fields").await;
    assert_eq!(agent_settings.status, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn imports_fill_custom_fields_matched_by_label_or_key() {
    let app = spawn_demo_app().await;
    for input in [
        json!({"key": "contract_no", "label_zh": "合同号", "label_en": "Contract no.", "kind": "text"}),
        json!({"key": "plans", "label_zh": "已订套餐", "label_en": "Plans", "kind": "multiselect", "options": ["5G", "宽带", "IPTV"]}),
    ] {
        let (status, body) = call(
            &app,
            Method::POST,
            "/api/v1/custom-fields",
            ADMIN,
            Some(input),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let csv =
        "姓名,手机,合同号,plans\n严涛,13944440001,HT-9,\"5G,宽带\"\n严敏,13944440002,HT-10,4G\n";
    let (status, refused) = import(&app, MANAGER, "dry_run=true", csv.into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let mapping = refused["report"]["mapping"].to_string();
    assert!(
        mapping.contains("custom:contract_no") && mapping.contains("custom:plans"),
        "{mapping}"
    );
    assert_eq!(refused["report"]["errors"][0]["row"], 3);
    assert_eq!(refused["report"]["errors"][0]["column"], "plans");
    let fixed = csv.replace(",4G", ",IPTV");
    let (status, done) = import(&app, MANAGER, "", fixed.into()).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let (_, yan) = call(
        &app,
        Method::GET,
        "/api/v1/customers/lookup?kind=phone&value=13944440001",
        MANAGER,
        None,
    )
    .await;
    assert_eq!(yan["custom_fields"]["contract_no"], "HT-9");
    assert_eq!(yan["custom_fields"]["plans"], json!(["5G", "宽带"]));
    // A required field must be filled by new rows; updates may keep theirs.
    let (_, fields) = call(&app, Method::GET, "/api/v1/custom-fields", ADMIN, None).await;
    let contract = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "contract_no")
        .unwrap()
        .clone();
    let (status, _) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/custom-fields/{}", contract["id"]),
        ADMIN,
        Some(json!({"version": contract["version"], "label_zh": "合同号", "label_en": "Contract no.", "required": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let id = yan["id"].as_i64().unwrap();
    let update_and_new = format!("id,name\n{id},严涛\n,新客户\n");
    let (status, body) = import(&app, MANAGER, "dry_run=true", update_and_new.into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let errors = body["report"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["row"], 3);
    app.stop().await;
}

#[tokio::test]
async fn any_part_of_a_name_finds_the_customer_after_renames_too() {
    let app = spawn_demo_app().await;
    let wang = create(&app, AGENT, json!({"name": "王小明"})).await;
    let olivia = create(&app, AGENT, json!({"name": "Olivia  Brown-Smith"})).await;
    let search = |q: &str| {
        let path = format!("/api/v1/customers?q={}", urlencode(q));
        let app = &app;
        async move {
            let (status, found) = call(app, Method::GET, &path, AGENT, None).await;
            assert_eq!(status, StatusCode::OK, "{found}");
            found["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    let wang_id = wang["id"].as_i64().unwrap();
    let olivia_id = olivia["id"].as_i64().unwrap();
    for part in ["王小明", "小明", "明"] {
        assert!(search(part).await.contains(&wang_id), "{part}");
    }
    for part in ["olivia brown", "BROWN", "smith", "own-sm"] {
        assert!(search(part).await.contains(&olivia_id), "{part}");
    }
    assert!(!search("小红").await.contains(&wang_id));

    // A rename moves the customer to the new name's parts.
    let (status, renamed) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/customers/{wang_id}"),
        AGENT,
        Some(json!({"version": wang["version"], "name": "王小红"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert!(search("小红").await.contains(&wang_id));
    assert!(!search("小明").await.contains(&wang_id));

    // Customers from an import are found the same way.
    let csv = "姓名,手机\n欧阳娜娜,13812340001\n";
    let imported = app
        .as_user(Method::POST, "/api/v1/customers/import", ADMIN)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), StatusCode::OK);
    let found = search("阳娜").await;
    assert_eq!(found.len(), 1, "{found:?}");
    app.stop().await;
}

#[tokio::test]
async fn names_that_sound_alike_in_one_organization_are_possible_duplicates() {
    let app = spawn_demo_app().await;
    let organization = |name: &'static str| {
        let app = &app;
        async move {
            let (status, org) = call(
                app,
                Method::POST,
                "/api/v1/organizations",
                AGENT,
                Some(json!({ "name": name })),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{org}");
            org["id"].as_i64().unwrap()
        }
    };
    let (here, elsewhere) = (
        organization("读音测试有限公司").await,
        organization("另一家测试公司").await,
    );
    let mut ids = Vec::new();
    for (name, org) in [
        ("王芳", here),
        ("汪芳", here),
        ("Wang Fang", here),
        ("王芬", here),
        ("王芳", elsewhere),
    ] {
        let c = create(&app, AGENT, json!({"name": name, "organization_id": org})).await;
        ids.push(c["id"].as_i64().unwrap());
    }

    let (status, groups) = call(
        &app,
        Method::GET,
        "/api/v1/customers/duplicates",
        MANAGER,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{groups}");
    let members = |group: &Value| -> Vec<i64> {
        group["customers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    let group = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["reason"] == "name" && members(g).contains(&ids[0]))
        .unwrap_or_else(|| panic!("no group for 王芳: {groups}"));
    assert_eq!(
        members(group),
        ids[..3],
        "王芬 sounds different; the other 王芳 is in another company"
    );
    assert_eq!(group["key"], "王芳");

    // The 360° view offers them too.
    let (status, profile) = call(
        &app,
        Method::GET,
        &format!("/api/v1/customers/{}/profile", ids[1]),
        MANAGER,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["possible_duplicates"], json!([ids[0], ids[2]]));

    // The review page names the reason in the viewer's language.
    let manager = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let page = manager.get("/customers/duplicates").await;
    assert!(
        page.body.contains("同一组织内姓名读音相同"),
        "{}",
        page.body
    );
    app.stop().await;
}

#[tokio::test]
async fn a_large_import_from_the_page_runs_in_the_background_with_its_progress() {
    let app = spawn_demo_app().await;
    let manager = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let mut csv = String::from("姓名,手机,外部编号\n");
    for i in 0..6_000 {
        csv.push_str(&format!("导入客户{i},1560000{i:04},BG-{i}\n"));
    }
    let uploaded = manager
        .post_file(
            "/customers/import",
            "/customers/import",
            "big.csv",
            csv.into_bytes(),
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.body);
    let review_path = uploaded.location.unwrap();
    let id = review_path.rsplit('/').next().unwrap().to_owned();
    let commit = [
        ("map_0", "name"),
        ("map_1", "phone"),
        ("map_2", "external_id"),
        ("action", "commit"),
    ];
    let started = manager.post_from(&review_path, &review_path, &commit).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let progress_path = started.location.unwrap();
    assert_eq!(progress_path, format!("/customers/import/{id}/progress"));

    // Another manager cannot follow it, nor start it.
    let admin = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let elsewhere = admin.get(&progress_path).await;
    assert_eq!(elsewhere.status, StatusCode::SEE_OTHER);
    assert_eq!(admin.get(&review_path).await.status, StatusCode::NOT_FOUND);

    let first = manager.get(&progress_path).await;
    if first.body.contains("id=\"import-running\"") {
        assert!(first.body.contains("6,000"), "{}", first.body);
    }
    let done = import_outcome(&manager, &progress_path).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("id=\"import-done\""), "{}", done.body);
    assert!(done.body.contains("<strong>6000</strong>"), "{}", done.body);
    // The outcome stays for a reload; the upload itself is used up.
    assert!(
        manager
            .get(&progress_path)
            .await
            .body
            .contains("id=\"import-done\"")
    );
    assert_eq!(
        manager.get(&review_path).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(lookup_phone(&app, "15600005999").await, StatusCode::OK);
    app.stop().await;
}
