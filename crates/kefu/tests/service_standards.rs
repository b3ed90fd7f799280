//! Service standards over HTTP: business calendars (hours, holidays,
//! make-up days, holiday files, due-time checks), through the API and the
//! settings pages, on whichever database `KEFU_TEST_DATABASE_URL` names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_testing::{DEMO_PASSWORD, TestApp, spawn_demo_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin@xinghe.example";
const MANAGER: &str = "manager@xinghe.example";
const AGENT: &str = "agent@xinghe.example";

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &str,
    input: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.as_user(method, path, user);
    if let Some(input) = input {
        request = request.json(&input);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn office(name: &str) -> Value {
    let weekday = "09:00-12:00, 13:00-18:00";
    json!({
        "name": name,
        "time_zone": "Asia/Shanghai",
        "hours": {"mon": weekday, "tue": weekday, "wed": weekday, "thu": weekday, "fri": weekday},
        "days": [
            {"date": "2026-10-01", "kind": "holiday", "name": "国庆节"},
            {"date": "2026-10-02", "name": "国庆节"},
            {"date": "2026-09-27", "kind": "makeup_workday", "name": "国庆节调休"}
        ]
    })
}

#[tokio::test]
async fn calendars_are_kept_checked_and_counted_through_the_api() {
    let server = spawn_demo_app().await;
    let app = &server;

    // Agents read calendars but do not define them.
    let (status, _) = call(
        app,
        Method::POST,
        "/api/v1/calendars",
        AGENT,
        Some(office("x")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Bad hours are refused, naming the weekday and why; nothing is saved.
    let mut bad = office("坐席中心");
    bad["hours"]["tue"] = json!("18:00-09:00");
    let (status, error) = call(app, Method::POST, "/api/v1/calendars", MANAGER, Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["field"], "hours.tue", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ends before it starts")
    );
    let mut bad = office("坐席中心");
    bad["hours"]["wed"] = json!("09:00-12:00, 11:30-13:00");
    let (status, error) = call(app, Method::POST, "/api/v1/calendars", MANAGER, Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "hours.wed", "{error}");
    let mut bad = office("坐席中心");
    bad["time_zone"] = json!("Asia/Atlantis");
    let (status, error) = call(app, Method::POST, "/api/v1/calendars", MANAGER, Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "time_zone", "{error}");
    let mut bad = office("坐席中心");
    bad["days"][1]["date"] = json!("2026-02-30");
    let (status, error) = call(app, Method::POST, "/api/v1/calendars", MANAGER, Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "days[1].date", "{error}");
    let (_, list) = call(app, Method::GET, "/api/v1/calendars", AGENT, None).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "坐席中心"),
        "{list}"
    );

    let (status, created) = call(
        app,
        Method::POST,
        "/api/v1/calendars",
        MANAGER,
        Some(office("坐席中心")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["hours"]["mon"], "09:00-12:00, 13:00-18:00");
    assert_eq!(created["hours"]["sat"], "");
    assert_eq!(created["days"].as_array().unwrap().len(), 3);
    assert_eq!(created["days"][0]["date"], "2026-09-27");
    assert_eq!(created["days"][0]["kind"], "makeup_workday");
    let (status, again) = call(
        app,
        Method::POST,
        "/api/v1/calendars",
        MANAGER,
        Some(office("坐席中心")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{again}");
    assert_eq!(again["error"]["field"], "name");

    // Friday evening to the make-up Sunday; the eve of the holidays past them.
    let due = |from: &str, minutes: i64| {
        let path = format!("/api/v1/calendars/{id}/due?from={from}&minutes={minutes}");
        async move { call(app, Method::GET, &path, AGENT, None).await }
    };
    let (status, answer) = due("2026-09-25T09:00:00Z", 120).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["due"], "2026-09-27T02:00:00Z", "{answer}");
    assert_eq!(answer["working_at_from"], true);
    let (_, answer) = due("2026-09-30T09:30:00Z", 60).await;
    assert_eq!(answer["due"], "2026-10-05T01:30:00Z", "{answer}");
    let (status, error) = due("2026-09-30T09:30:00Z", -5).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "minutes");

    // A holiday file adds the rest of the week; its errors name the line.
    let import = |version: i64, body: &'static str| {
        let path = format!("/api/v1/calendars/{id}/days/import?version={version}");
        let request = app
            .as_user(Method::POST, &path, ADMIN)
            .header("content-type", "text/calendar")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            (
                response.status(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, error) = import(
        1,
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261003\r\nSUMMARY:国庆节\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:2026-10-10\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["field"], "days");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 7"),
        "{error}"
    );
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261001\r\nDTEND;VALUE=DATE:20261008\r\nSUMMARY:国庆节 假期\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261010\r\nSUMMARY:国庆节 补班\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (status, imported) = import(1, ics).await;
    assert_eq!(status, StatusCode::OK, "{imported}");
    assert_eq!(imported["version"], 2);
    let days = imported["days"].as_array().unwrap();
    assert_eq!(days.len(), 9, "{imported}");
    assert!(
        days.iter()
            .any(|d| d["date"] == "2026-10-10" && d["kind"] == "makeup_workday")
    );
    assert!(
        days.iter()
            .any(|d| d["date"] == "2026-10-01" && d["name"] == "国庆节 假期")
    );
    // Someone else's stale version is a conflict, not a silent overwrite.
    let (status, stale) = import(1, ics).await;
    assert_eq!(status, StatusCode::CONFLICT, "{stale}");
    assert_eq!(stale["error"]["current_version"], 2);
    let (_, answer) = due("2026-09-30T09:30:00Z", 60).await;
    assert_eq!(answer["due"], "2026-10-08T01:30:00Z", "{answer}");

    // A change keeps the days unless it carries them; then they are replaced.
    let mut change = office("坐席中心");
    change["version"] = json!(2);
    change["hours"]["sat"] = json!("10:00-16:00");
    change.as_object_mut().unwrap().remove("days");
    let (status, changed) = call(
        app,
        Method::PATCH,
        &format!("/api/v1/calendars/{id}"),
        MANAGER,
        Some(change),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["hours"]["sat"], "10:00-16:00");
    assert_eq!(changed["days"].as_array().unwrap().len(), 9);
    let (status, _) = call(
        app,
        Method::PATCH,
        &format!("/api/v1/calendars/{id}"),
        MANAGER,
        Some(json!({"version": 3, "name": "坐席中心", "hours": {"sun": "99:00-10:00"}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, kept) = call(
        app,
        Method::GET,
        &format!("/api/v1/calendars/{id}"),
        AGENT,
        None,
    )
    .await;
    assert_eq!(
        kept["version"], 3,
        "a refused change left the calendar as it was: {kept}"
    );
    assert_eq!(kept["hours"]["sat"], "10:00-16:00");

    // Every change is in the audit log, with who made it.
    let (_, audit) = call(
        app,
        Method::GET,
        &format!("/api/v1/audit?entity=calendar&entity_id={id}"),
        ADMIN,
        None,
    )
    .await;
    let records = audit["items"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{audit}");

    let (status, _) = call(
        app,
        Method::DELETE,
        &format!("/api/v1/calendars/{id}"),
        MANAGER,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        app,
        Method::GET,
        &format!("/api/v1/calendars/{id}"),
        AGENT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn calendars_are_edited_imported_and_checked_on_the_settings_page() {
    let app = spawn_demo_app().await;
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    assert_eq!(
        agent.get("/settings/calendars").await.status,
        StatusCode::FORBIDDEN
    );
    let manager = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let page = manager.get("/settings/calendars").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"calendar-form\""));

    // A bad line keeps everything typed and names the problem.
    let fields = [
        ("name", "热线 24×7"),
        ("time_zone", "Asia/Shanghai"),
        ("hours.mon", "00:00-24:00"),
        ("hours.tue", "00:00-24:00"),
        ("hours.wed", "00:00-24:00"),
        ("hours.thu", "00:00-24:00"),
        ("hours.fri", "00:00-24:00"),
        ("hours.sat", "00:00-24:00"),
        ("hours.sun", "00:00-24:00"),
        (
            "days_text",
            "2026-10-01,holiday,国庆节\n2026-10-41,holiday,bad",
        ),
    ];
    let refused = manager
        .post_from("/settings/calendars", "/settings/calendars", &fields)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("data-field=\"days\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("line 2"), "{}", refused.body);
    assert!(refused.body.contains("热线 24×7"));

    let mut fields = fields.to_vec();
    fields[9] = ("days_text", "2026-10-01,holiday,国庆节");
    let saved = manager
        .post_from("/settings/calendars", "/settings/calendars", &fields)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let location = saved.location.clone().unwrap();
    let edit = location.split('?').next().unwrap().to_owned();
    let page = manager.get(&location).await;
    assert!(
        page.body.contains("2026-10-01,holiday,国庆节"),
        "{}",
        page.body
    );

    // The due check reads and shows times in the calendar's zone.
    let checked = manager
        .get(&format!("{edit}?from=2026-09-30T23:00&minutes=90"))
        .await;
    assert_eq!(checked.status, StatusCode::OK);
    assert!(
        checked.body.contains("data-due=\"2026-10-02 00:30"),
        "{}",
        checked.body
    );

    // A holiday file through the import form.
    let version = "1";
    let form = reqwest::multipart::Form::new()
        .text("version", version)
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                "date,kind,name\n2026-10-02,holiday,国庆节\n"
                    .as_bytes()
                    .to_vec(),
            )
            .file_name("holidays.csv"),
        );
    let imported = manager
        .post_multipart(&edit, &format!("{edit}/import"), form)
        .await;
    assert_eq!(imported.status, StatusCode::SEE_OTHER, "{}", imported.body);
    let page = manager.get(&edit).await;
    assert!(
        page.body.contains("2026-10-02,holiday,国庆节"),
        "{}",
        page.body
    );
    let form = reqwest::multipart::Form::new().text("version", "2").part(
        "file",
        reqwest::multipart::Part::bytes(b"2026-10-02,someday\n".to_vec()).file_name("bad.csv"),
    );
    let refused = manager
        .post_multipart(&edit, &format!("{edit}/import"), form)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("line 1"), "{}", refused.body);

    let deleted = manager
        .post_from(&edit, &format!("{edit}/delete"), &[("confirm", "1")])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(manager.get(&edit).await.status, StatusCode::NOT_FOUND);
    app.stop().await;
}
