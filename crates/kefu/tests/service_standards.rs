//! Service standards over HTTP: business calendars (hours, holidays,
//! make-up days, holiday files, due-time checks) and SLA policies (due
//! times that follow the ticket, queues by SLA state, overdue reasons),
//! through the API and the settings pages, on whichever database
//! `KEFU_TEST_DATABASE_URL` names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_testing::{DEMO_PASSWORD, spawn_demo_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin@xinghe.example";
const MANAGER: &str = "manager@xinghe.example";
const AGENT: &str = "agent@xinghe.example";

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
    let (status, _) = app
        .call(Method::POST, "/api/v1/calendars", AGENT, Some(office("x")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Bad hours are refused, naming the weekday and why; nothing is saved.
    let mut bad = office("坐席中心");
    bad["hours"]["tue"] = json!("18:00-09:00");
    let (status, error) = app
        .call(Method::POST, "/api/v1/calendars", MANAGER, Some(bad))
        .await;
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
    let (status, error) = app
        .call(Method::POST, "/api/v1/calendars", MANAGER, Some(bad))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "hours.wed", "{error}");
    let mut bad = office("坐席中心");
    bad["time_zone"] = json!("Asia/Atlantis");
    let (status, error) = app
        .call(Method::POST, "/api/v1/calendars", MANAGER, Some(bad))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "time_zone", "{error}");
    let mut bad = office("坐席中心");
    bad["days"][1]["date"] = json!("2026-02-30");
    let (status, error) = app
        .call(Method::POST, "/api/v1/calendars", MANAGER, Some(bad))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "days[1].date", "{error}");
    let (_, list) = app
        .call(Method::GET, "/api/v1/calendars", AGENT, None)
        .await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "坐席中心"),
        "{list}"
    );

    let (status, created) = app
        .call(
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
    let (status, again) = app
        .call(
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
        async move { app.call(Method::GET, &path, AGENT, None).await }
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
    let (status, changed) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/calendars/{id}"),
            MANAGER,
            Some(change),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["hours"]["sat"], "10:00-16:00");
    assert_eq!(changed["days"].as_array().unwrap().len(), 9);
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/calendars/{id}"),
            MANAGER,
            Some(json!({"version": 3, "name": "坐席中心", "hours": {"sun": "99:00-10:00"}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, kept) = app
        .call(Method::GET, &format!("/api/v1/calendars/{id}"), AGENT, None)
        .await;
    assert_eq!(
        kept["version"], 3,
        "a refused change left the calendar as it was: {kept}"
    );
    assert_eq!(kept["hours"]["sat"], "10:00-16:00");

    // Every change is in the audit log, with who made it.
    let (_, audit) = app
        .call(
            Method::GET,
            &format!("/api/v1/audit?entity=calendar&entity_id={id}"),
            ADMIN,
            None,
        )
        .await;
    let records = audit["items"].as_array().unwrap();
    assert_eq!(records.len(), 3, "{audit}");

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/calendars/{id}"),
            MANAGER,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::GET, &format!("/api/v1/calendars/{id}"), AGENT, None)
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

fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

#[tokio::test]
async fn sla_policies_set_due_times_that_follow_the_ticket() {
    let server = spawn_demo_app().await;
    let app = &server;
    let (_, calendar) = app
        .call(
            Method::POST,
            "/api/v1/calendars",
            ADMIN,
            Some(
                json!({"name": "全天候", "time_zone": "Asia/Shanghai", "hours": {
            "mon": "00:00-24:00", "tue": "00:00-24:00", "wed": "00:00-24:00", "thu": "00:00-24:00",
            "fri": "00:00-24:00", "sat": "00:00-24:00", "sun": "00:00-24:00"}}),
            ),
        )
        .await;
    let calendar = calendar["id"].as_i64().unwrap();

    // Bad policies name the field and the valid choices.
    for (input, field) in [
        (
            json!({"name": "x", "calendar_id": calendar, "ticket_types": ["complaint", "grumble"], "resolution_minutes": 60}),
            "ticket_types[1]",
        ),
        (
            json!({"name": "x", "calendar_id": calendar}),
            "first_response_minutes",
        ),
        (
            json!({"name": "x", "calendar_id": 999_999, "resolution_minutes": 60}),
            "calendar_id",
        ),
        (
            json!({"name": "x", "calendar_id": calendar, "resolution_minutes": 0}),
            "resolution_minutes",
        ),
        (
            json!({"name": "x", "calendar_id": calendar, "resolution_minutes": 60, "warn_percent": 120}),
            "warn_percent",
        ),
    ] {
        let (status, error) = app
            .call(Method::POST, "/api/v1/sla-policies", MANAGER, Some(input))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/sla-policies",
            AGENT,
            Some(json!({"name": "x", "calendar_id": calendar, "resolution_minutes": 60})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, complaints) = app.call(Method::POST,
        "/api/v1/sla-policies",
        MANAGER,
        Some(
            json!({"name": "投诉", "position": -10, "calendar_id": calendar, "ticket_types": ["complaint"],
            "first_response_minutes": 60, "next_response_minutes": 30, "resolution_minutes": 240,
            "warn_percent": 50}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{complaints}");
    let (_, general) = app.call(Method::POST,
        "/api/v1/sla-policies",
        MANAGER,
        Some(json!({"name": "一般", "position": -5, "calendar_id": calendar, "first_response_minutes": 480})),
    )
    .await;
    assert_eq!(general["position"], -5, "{general}");
    // Without a position a policy goes after the others (the demo's end at 40).
    let (_, last) = app.call(Method::POST,
        "/api/v1/sla-policies",
        MANAGER,
        Some(json!({"name": "末尾", "calendar_id": calendar, "resolution_minutes": 60, "active": false})),
    )
    .await;
    let (_, all) = app
        .call(Method::GET, "/api/v1/sla-policies", AGENT, None)
        .await;
    assert_eq!(last["position"], 41, "{last} {all}");

    // A complaint falls under the complaint policy: due in 60 and 240 minutes.
    let (status, ticket) = app.call(Method::POST,
        "/api/v1/tickets",
        AGENT,
        Some(json!({"subject": "宽带装机一直没人上门", "type": "complaint", "tags": ["sla-test"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let id = ticket["id"].as_i64().unwrap();
    assert_eq!(ticket["sla_policy_id"], complaints["id"], "{ticket}");
    let created = time(&ticket["created_at"]);
    assert_eq!(
        time(&ticket["first_response_due_at"]) - created,
        chrono::Duration::minutes(60)
    );
    assert_eq!(
        time(&ticket["resolution_due_at"]) - created,
        chrono::Duration::minutes(240)
    );
    assert_eq!(ticket["sla"]["state"], "running", "{ticket}");
    assert_eq!(ticket["sla_next_due_at"], ticket["first_response_due_at"]);

    // Two hours later, nobody has answered: breached, and in the manager's list.
    app.backdate_ticket(id, 120).await;
    let mut change = complaints.clone();
    for key in ["id", "created_at", "updated_at"] {
        change.as_object_mut().unwrap().remove(key);
    }
    change["ticket_types"] = json!(["complaint"]);
    change["priorities"] = json!([]);
    change["grades"] = json!([]);
    change["channels"] = json!([]);
    change["organization_ids"] = json!([]);
    change["tags"] = json!([]);
    let (status, changed) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/sla-policies/{}", complaints["id"]),
            MANAGER,
            Some(change),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (_, ticket) = app
        .call(Method::GET, &format!("/api/v1/tickets/{id}"), AGENT, None)
        .await;
    assert_eq!(ticket["sla"]["state"], "breached", "{ticket}");
    let queue = |query: &'static str| async move {
        let (status, page) = app
            .call(
                Method::GET,
                &format!("/api/v1/tickets?{query}"),
                MANAGER,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(
        queue("tag=sla-test&sla=breached&sort=due")
            .await
            .contains(&id)
    );
    assert!(queue("tag=sla-test&sla=attention").await.contains(&id));
    assert!(!queue("tag=sla-test&sla=at_risk").await.contains(&id));
    let (status, error) = app
        .call(Method::GET, "/api/v1/tickets?sla=late", AGENT, None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "sla");

    // The reply comes late: first response missed; the resolution clock runs.
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{id}/messages"),
            AGENT,
            Some(json!({"kind": "reply", "body": "非常抱歉，明天上午安排师傅上门。"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, ticket) = app
        .call(Method::GET, &format!("/api/v1/tickets/{id}"), AGENT, None)
        .await;
    let targets = ticket["sla"]["targets"].as_array().unwrap();
    assert!(
        targets
            .iter()
            .any(|t| t["target"] == "first_response" && t["state"] == "missed"),
        "{ticket}"
    );
    assert!(
        targets
            .iter()
            .any(|t| t["target"] == "resolution" && t["state"] == "at_risk"),
        "{ticket}"
    );
    assert_eq!(ticket["sla_next_due_at"], ticket["resolution_due_at"]);
    assert!(queue("tag=sla-test&sla=at_risk").await.contains(&id));

    // Waiting for the customer stops the resolution clock; it resumes later.
    let due_before = time(&ticket["resolution_due_at"]);
    let (status, moved) = app
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{id}/status"),
            AGENT,
            Some(json!({"version": ticket["version"], "status": "pending"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["sla"]["paused"], true, "{moved}");
    assert_eq!(moved["resolution_due_at"], Value::Null);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, moved) = app
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{id}/status"),
            AGENT,
            Some(json!({"version": moved["version"], "status": "open"})),
        )
        .await;
    assert_eq!(moved["sla"]["paused"], false, "{moved}");
    assert!(
        moved["sla_paused_seconds"].as_i64().unwrap() >= 1,
        "{moved}"
    );
    assert!(time(&moved["resolution_due_at"]) > due_before, "{moved}");

    // No longer a complaint: the general policy applies, and the audit says so.
    let (status, changed) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tickets/{id}"),
            AGENT,
            Some(json!({"version": moved["version"], "type": "inquiry"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["sla_policy_id"], general["id"], "{changed}");
    assert_eq!(changed["resolution_due_at"], Value::Null);
    let (_, audit) = app
        .call(
            Method::GET,
            &format!("/api/v1/audit?entity=ticket&entity_id={id}"),
            ADMIN,
            None,
        )
        .await;
    let newest = &audit["items"][0];
    assert!(newest.to_string().contains("sla_policy_id"), "{newest}");

    // Resolving a ticket that ran over its SLA needs an explanation.
    let (_, late) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(json!({"subject": "话费多扣了", "type": "complaint"})),
        )
        .await;
    let late_id = late["id"].as_i64().unwrap();
    app.backdate_ticket(late_id, 300).await;
    let (_, late) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tickets/{late_id}"),
            AGENT,
            Some(json!({"version": 1, "tags": ["话费"]})),
        )
        .await;
    assert_eq!(late["sla"]["state"], "breached", "{late}");
    let resolve = |extra: Value| {
        let mut body = json!({"version": late["version"], "status": "resolved",
            "resolution_category": "solved", "resolution": "已退还多扣的话费。"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let path = format!("/api/v1/tickets/{late_id}/status");
        async move { app.call(Method::POST, &path, AGENT, Some(body)).await }
    };
    let (status, error) = resolve(json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["field"], "overdue_category", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("第三方原因 Third party"),
        "{error}"
    );
    let (status, error) = resolve(json!({"overdue_category": "天气原因"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "overdue_category");
    let (status, error) = resolve(json!({"overdue_category": "第三方原因 Third party"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "overdue_reason", "{error}");
    let (status, resolved) = resolve(json!({"overdue_category": "第三方原因 Third party",
        "overdue_reason": "计费系统供应商故障，账单延迟两天。"}))
    .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["overdue_category"], "第三方原因 Third party");
    assert_eq!(resolved["status"], "resolved");

    // A calendar in use cannot be deleted.
    let (status, error) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/calendars/{calendar}"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(
        error["error"]["message"].as_str().unwrap().contains("投诉"),
        "{error}"
    );
    server.stop().await;
}

#[tokio::test]
async fn sla_policies_are_kept_on_the_settings_page_and_shown_on_queues_and_tickets() {
    let app = spawn_demo_app().await;
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    assert_eq!(
        agent.get("/settings/sla").await.status,
        StatusCode::FORBIDDEN
    );
    let manager = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let page = manager.get("/settings/sla").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("VIP 客户 VIP customers") && page.body.contains("一般 Standard"),
        "the demo floor's policies are listed: {}",
        page.body
    );
    let (_, calendar) = app
        .call(
            Method::POST,
            "/api/v1/calendars",
            ADMIN,
            Some(office("工作日")),
        )
        .await;
    let calendar = calendar["id"].as_i64().unwrap().to_string();

    let mut fields = vec![
        ("name", "投诉 24 小时"),
        ("calendar_id", calendar.as_str()),
        ("active", "1"),
        ("type.complaint", "1"),
        ("first_response_minutes", "60"),
        ("resolution_minutes", "0"),
        ("warn_percent", "80"),
        ("pause_when_pending", "1"),
    ];
    let refused = manager
        .post_from("/settings/sla", "/settings/sla", &fields)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("data-field=\"resolution_minutes\""),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("投诉 24 小时"),
        "what was typed stays"
    );
    fields[5] = ("resolution_minutes", "1440");
    let saved = manager
        .post_from("/settings/sla", "/settings/sla", &fields)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let list = manager.get("/settings/sla").await;
    assert!(
        list.body.contains("投诉 24 小时") && list.body.contains("1440"),
        "{}",
        list.body
    );

    let (_, ticket) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(json!({"subject": "营业厅态度差", "type": "complaint", "tags": ["sla-ui"]})),
        )
        .await;
    let id = ticket["id"].as_i64().unwrap();
    assert!(ticket["sla_policy_id"].as_i64().is_some(), "{ticket}");
    let queue = manager
        .get("/tickets?view=all&tag=sla-ui&sla=running&sort=due")
        .await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(
        queue.body.contains(&format!("data-id=\"{id}\"")),
        "{}",
        queue.body
    );
    assert!(queue.body.contains("data-sla=\""), "{}", queue.body);
    let page = manager.get(&format!("/tickets/{id}")).await;
    assert!(page.body.contains("id=\"sla-panel\""), "{}", page.body);
    assert!(
        page.body.contains("sla.target_first_response") || page.body.contains("首次响应"),
        "{}",
        page.body
    );
    app.stop().await;
}

/// Fires every alarm due at `at`, as many sweeps as it takes.
async fn sweep_until_quiet(app: &kefu_app::App, at: chrono::DateTime<chrono::Utc>) {
    loop {
        let report = kefu_app::alarms::sweep(app, at).await.unwrap();
        if report.tickets < 500 {
            return;
        }
    }
}

/// The SLA events on a ticket's timeline, in order.
async fn sla_events(app: &kefu_testing::TestApp, id: i64) -> Vec<String> {
    let (_, detail) = app
        .call(Method::GET, &format!("/api/v1/tickets/{id}"), ADMIN, None)
        .await;
    detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"] == "change")
        .flat_map(|e| e["changes"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["field"] == "sla_event")
        .map(|c| c["new"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// An agent's notifications about one ticket, as kind codes, oldest
/// first (read behind the API: the demo backlog's alarms crowd the newest).
async fn notices(app: &kefu_testing::TestApp, email: &str, ticket: i64) -> Vec<String> {
    let agent = agent_id(app, email).await;
    let mut reader = app.app.store.read().await.unwrap();
    let mut kinds: Vec<String> =
        kefu_store::tickets::notifications(&mut reader.conn(), agent, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|n| n.ticket_id == ticket)
            .map(|n| n.kind)
            .collect();
    kinds.reverse();
    kinds
}

async fn agent_id(app: &kefu_testing::TestApp, email: &str) -> i64 {
    let (_, agents) = app
        .call(Method::GET, "/api/v1/agents?limit=200", ADMIN, None)
        .await;
    agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == email)
        .and_then(|a| a["id"].as_i64())
        .unwrap()
}

/// A round-the-clock calendar, so the test's minutes are working minutes.
async fn all_day_calendar(app: &kefu_testing::TestApp) -> i64 {
    let day = "00:00-24:00";
    let (status, calendar) = app
        .call(
            Method::POST,
            "/api/v1/calendars",
            ADMIN,
            Some(json!({"name": "全天 Always", "time_zone": "Asia/Shanghai", "hours": {
                "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{calendar}");
    calendar["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_late_ticket_is_warned_then_escalated_step_by_step() {
    let server = spawn_demo_app().await;
    let app = &server;
    let calendar = all_day_calendar(app).await;
    let agent = agent_id(app, AGENT).await;
    let support = agent_id(app, "support@xinghe.example").await;
    let (_, desk) = app
        .call(
            Method::POST,
            "/api/v1/teams",
            ADMIN,
            Some(json!({"name": "告警测试组", "lead_agent_id": agent, "member_ids": [agent]})),
        )
        .await;
    let (_, second_line) = app
        .call(
            Method::POST,
            "/api/v1/teams",
            ADMIN,
            Some(json!({"name": "升级二线", "lead_agent_id": support, "member_ids": [support]})),
        )
        .await;

    // A chain that names no team for a move, or a team that does not
    // exist, is refused by step; nothing is saved.
    let policy = |escalation: Value| {
        json!({"name": "告警", "position": -20, "calendar_id": calendar, "tags": ["alarm-test"],
            "first_response_minutes": 60, "warn_percent": 50, "escalation": escalation})
    };
    for (chain, field) in [
        (
            json!([{"after_minutes": 0, "action": "notify_team_lead"}, {"after_minutes": 5, "action": "move_to_team"}]),
            "escalation[1].team_id",
        ),
        (
            json!([{"after_minutes": 0, "action": "move_to_team", "team_id": 999_999}]),
            "escalation[0].team_id",
        ),
        (
            json!([{"after_minutes": -5, "action": "notify_managers"}]),
            "escalation[0].after_minutes",
        ),
    ] {
        let (status, error) = app
            .call(
                Method::POST,
                "/api/v1/sla-policies",
                MANAGER,
                Some(policy(chain)),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let (status, unknown) = app
        .call(
            Method::POST,
            "/api/v1/sla-policies",
            MANAGER,
            Some(policy(
                json!([{"after_minutes": 0, "action": "page_the_ceo"}]),
            )),
        )
        .await;
    assert!(status.is_client_error(), "{unknown}");

    // Given out of order, the steps are kept in order of their delay.
    let (status, saved) = app
        .call(
            Method::POST,
            "/api/v1/sla-policies",
            MANAGER,
            Some(policy(json!([
                {"after_minutes": 60, "action": "move_to_team", "team_id": second_line["id"]},
                {"after_minutes": 0, "action": "notify_team_lead"},
                {"after_minutes": 30, "action": "notify_managers"},
                {"after_minutes": 30, "action": "raise_priority"}
            ]))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let actions: Vec<&str> = saved["escalation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "notify_team_lead",
            "notify_managers",
            "raise_priority",
            "move_to_team"
        ]
    );

    let (status, ticket) = app
        .call(Method::POST, "/api/v1/tickets", MANAGER, Some(json!({
            "subject": "光猫反复掉线", "tags": ["alarm-test"], "urgency": "medium", "impact": "medium",
            "team_id": desk["id"], "assignee_id": agent})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let id = ticket["id"].as_i64().unwrap();
    assert_eq!(ticket["priority"], "p3");
    let created = time(&ticket["created_at"]);
    let at = |minutes: i64| created + chrono::Duration::minutes(minutes);

    // Nothing before half the target; at half of it the assignee is warned, once.
    sweep_until_quiet(&server.app, at(29)).await;
    assert!(sla_events(app, id).await.is_empty());
    sweep_until_quiet(&server.app, at(31)).await;
    sweep_until_quiet(&server.app, at(32)).await;
    assert_eq!(sla_events(app, id).await, ["warning"]);
    assert_eq!(notices(app, AGENT, id).await, ["sla_warning"]);

    // At the due time: the breach, and the first step (the team lead).
    sweep_until_quiet(&server.app, at(61)).await;
    assert_eq!(
        sla_events(app, id).await,
        ["warning", "breach", "notify_team_lead"]
    );
    assert_eq!(
        notices(app, AGENT, id).await,
        ["sla_warning", "sla_breach", "sla_escalation"]
    );

    // Half an hour on: the managers hear of it and the priority goes up,
    // with the policy named as the reason.
    sweep_until_quiet(&server.app, at(95)).await;
    assert_eq!(notices(app, MANAGER, id).await, ["sla_escalation"]);
    let (_, after) = app
        .call(Method::GET, &format!("/api/v1/tickets/{id}"), ADMIN, None)
        .await;
    assert_eq!(after["priority"], "p2", "{after}");
    assert!(
        after["priority_reason"].as_str().unwrap().contains("告警"),
        "{after}"
    );
    let by_kefu = after["timeline"].as_array().unwrap().iter().any(|e| {
        e["actor"] == "system:sla"
            && e["changes"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["field"] == "priority" && c["new"] == "p2")
            })
    });
    assert!(by_kefu, "the raise is on the timeline, by Kefu: {after}");

    // An hour past the breach it moves to the second line; the assignee,
    // not a member there, lets go.
    sweep_until_quiet(&server.app, at(121)).await;
    let (_, moved) = app
        .call(Method::GET, &format!("/api/v1/tickets/{id}"), ADMIN, None)
        .await;
    assert_eq!(moved["team_id"], second_line["id"], "{moved}");
    assert_eq!(moved["assignee_id"], Value::Null, "{moved}");
    assert_eq!(
        sla_events(app, id).await,
        [
            "warning",
            "breach",
            "notify_team_lead",
            "notify_managers",
            "raise_priority",
            "move_to_team"
        ]
    );
    // The chain is done: later sweeps add nothing.
    sweep_until_quiet(&server.app, at(600)).await;
    assert_eq!(sla_events(app, id).await.len(), 6);

    // The timeline shows it in words, by Kefu.
    let page = server
        .signed_in(AGENT, DEMO_PASSWORD)
        .await
        .get(&format!("/tickets/{id}"))
        .await;
    assert!(page.body.contains("SLA 已超时"), "{}", page.body);
    assert!(page.body.contains("升级：已转交其他组"));
    assert!(page.body.contains("客服系统（服务标准）"));
    let home = server.signed_in(AGENT, DEMO_PASSWORD).await.get("/").await;
    assert!(home.body.contains("SLA 即将超时"), "{}", home.body);
}

#[tokio::test]
async fn two_instances_fire_each_alarm_once() {
    let server = spawn_demo_app().await;
    let app = &server;
    let calendar = all_day_calendar(app).await;
    let agent = agent_id(app, AGENT).await;
    let (_, desk) = app
        .call(
            Method::POST,
            "/api/v1/teams",
            ADMIN,
            Some(json!({"name": "双实例组", "lead_agent_id": agent, "member_ids": [agent]})),
        )
        .await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/sla-policies",
            MANAGER,
            Some(json!({
            "name": "双实例", "position": -30, "calendar_id": calendar, "tags": ["twin"],
            "first_response_minutes": 10,
            "escalation": [{"after_minutes": 0, "action": "notify_team_lead"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut ids = Vec::new();
    for n in 0..30 {
        let (_, t) = app
            .call(
                Method::POST,
                "/api/v1/tickets",
                MANAGER,
                Some(json!({
                "subject": format!("双实例 {n}"), "tags": ["twin"], "team_id": desk["id"]})),
            )
            .await;
        ids.push(t["id"].as_i64().unwrap());
    }
    let later = chrono::Utc::now() + chrono::Duration::minutes(30);
    let beside = server.spawn_beside().await;
    // Both instances sweep the same moment, again and again, at once.
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            sweep_until_quiet(&server.app, later),
            sweep_until_quiet(&beside.app, later)
        );
        let _ = (a, b);
    }
    for id in &ids {
        assert_eq!(
            sla_events(app, *id).await,
            ["breach", "notify_team_lead"],
            "ticket {id}"
        );
        assert_eq!(
            notices(app, AGENT, *id).await,
            ["sla_breach", "sla_escalation"],
            "ticket {id}"
        );
    }
    beside.stop().await;
}

#[tokio::test]
async fn complaints_must_be_answered_with_a_result_in_time() {
    let server = spawn_demo_app().await;
    let app = &server;
    let calendar = all_day_calendar(app).await;
    let (status, policy) = app
        .call(
            Method::POST,
            "/api/v1/sla-policies",
            MANAGER,
            Some(json!({
            "name": "结果答复", "position": -40, "calendar_id": calendar, "tags": ["result-test"],
            "first_response_minutes": 60, "result_minutes": 120})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    assert_eq!(policy["result_minutes"], 120);
    let (status, error) = app
        .call(
            Method::POST,
            "/api/v1/sla-policies",
            MANAGER,
            Some(json!({
            "name": "坏", "calendar_id": calendar, "result_minutes": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "result_minutes");

    // A complaint gets the result target; an inquiry under the same policy does not.
    let (_, complaint) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(json!({
            "subject": "多收了月租费", "type": "complaint", "tags": ["result-test"]})),
        )
        .await;
    let id = complaint["id"].as_i64().unwrap();
    assert_eq!(
        time(&complaint["result_due_at"]) - time(&complaint["created_at"]),
        chrono::Duration::minutes(120),
        "{complaint}"
    );
    let (_, inquiry) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(json!({
            "subject": "咨询月租", "type": "inquiry", "tags": ["result-test"]})),
        )
        .await;
    assert_eq!(inquiry["result_due_at"], Value::Null, "{inquiry}");

    // The reply form offers to mark the result; a note cannot carry it.
    let agent = server.signed_in(AGENT, DEMO_PASSWORD).await;
    let page = agent.get(&format!("/tickets/{id}")).await;
    assert!(page.body.contains("id=\"gives-result\""));
    let (status, error) = app
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{id}/messages"),
            AGENT,
            Some(json!({"kind": "note", "body": "内部核实中", "gives_result": true})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["field"], "gives_result");
    let (status, _) = app
        .call(Method::POST, &format!("/api/v1/tickets/{id}/messages"), AGENT,
            Some(json!({"kind": "reply", "body": "经核实多收 10 元，已退回原账户。", "gives_result": true})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, after) = app
        .call(Method::GET, &format!("/api/v1/tickets/{id}"), AGENT, None)
        .await;
    assert!(after["result_answered_at"].is_string(), "{after}");
    let result = after["sla"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "result")
        .cloned()
        .unwrap();
    assert_eq!(result["state"], "met", "{after}");
    let page = agent.get(&format!("/tickets/{id}")).await;
    assert!(!page.body.contains("id=\"gives-result\""));
    assert!(page.body.contains("结果答复"));
}
