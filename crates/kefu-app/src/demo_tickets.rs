//! The demo's work orders: a category tree and about a thousand bilingual
//! tickets over the last 90 days with their conversations, spread over
//! types, channels, priorities and states the way a broadband and mobile
//! service floor sees them.

use crate::{AppError, Caller};
use chrono::{DateTime, Duration, Utc};
use kefu_domain::audit::Action;
use kefu_domain::ticket::{
    Channel, Direction, Level, MessageKind, PriorityMatrix, ResolutionCategory, ServiceKind,
    Status, TicketType,
};
use kefu_store::tickets::{self, Author, CategoryFields, NewMessage, TicketFields};
use kefu_store::{Tx, audit as audit_log, customers};
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

/// How many demo tickets are made.
pub const DEMO_TICKETS: usize = 1000;

/// A category's (name, English name).
type Names = (&'static str, &'static str);

/// (parent, children) of the category tree.
const CATEGORIES: [(Names, [Names; 3]); 5] = [
    (
        ("宽带", "Broadband"),
        [
            ("无法上网", "No connection"),
            ("网速慢", "Slow speed"),
            ("安装移机", "Installation and moves"),
        ],
    ),
    (
        ("移动业务", "Mobile"),
        [
            ("套餐变更", "Plan changes"),
            ("流量", "Data"),
            ("信号", "Signal"),
        ],
    ),
    (
        ("账单", "Billing"),
        [
            ("扣费异议", "Disputed charges"),
            ("发票", "Invoices"),
            ("缴费", "Payments"),
        ],
    ),
    (
        ("IPTV", "IPTV"),
        [
            ("卡顿", "Stuttering"),
            ("无信号", "No signal"),
            ("节目点播", "On demand"),
        ],
    ),
    (
        ("服务", "Service"),
        [
            ("营业厅服务", "Counter service"),
            ("上门服务", "Home visits"),
            ("客服态度", "Agent conduct"),
        ],
    ),
];

/// Subjects by category child index (row-major over [`CATEGORIES`]): (type, zh, en).
const SUBJECTS: [(TicketType, &str, &str); 15] = [
    (
        TicketType::Fault,
        "宽带无法上网，光猫LOS灯闪红",
        "Broadband down, the modem's LOS light blinks red",
    ),
    (
        TicketType::Fault,
        "晚上网速很慢，测速只有10M",
        "Evening speeds drop to 10 Mbps",
    ),
    (
        TicketType::ServiceRequest,
        "搬家申请宽带移机",
        "Moving house: please move my broadband",
    ),
    (
        TicketType::ServiceRequest,
        "想把套餐改成5G尊享套餐",
        "I want to switch to the 5G Premium plan",
    ),
    (
        TicketType::Inquiry,
        "流量用完了怎么加油包",
        "How do I buy a data top-up?",
    ),
    (
        TicketType::Fault,
        "家里手机信号差，经常掉线",
        "Weak mobile signal at home, calls drop",
    ),
    (
        TicketType::Complaint,
        "本月多扣了30元增值业务费",
        "Charged 30 yuan for a service I never ordered",
    ),
    (
        TicketType::Inquiry,
        "如何开具电子发票",
        "How do I get an electronic invoice?",
    ),
    (
        TicketType::Inquiry,
        "缴费后仍显示欠费停机",
        "Paid the bill but the line is still suspended",
    ),
    (
        TicketType::Fault,
        "IPTV看直播一直卡顿",
        "IPTV live channels keep stuttering",
    ),
    (
        TicketType::Fault,
        "机顶盒显示无信号",
        "Set-top box shows no signal",
    ),
    (
        TicketType::Inquiry,
        "点播的电影为什么要另外收费",
        "Why is the on-demand film charged extra?",
    ),
    (
        TicketType::Suggestion,
        "建议营业厅周末延长营业时间",
        "Please open the service counter longer at weekends",
    ),
    (
        TicketType::Complaint,
        "上门安装师傅迟到两小时",
        "The installer came two hours late",
    ),
    (
        TicketType::Complaint,
        "客服电话里态度不好",
        "The agent on the phone was rude",
    ),
];

const CUSTOMER_REPLIES: [(&str, &str); 4] = [
    (
        "按你们说的重启了，还是不行。",
        "I restarted it as you said; still not working.",
    ),
    (
        "好的，明天上午在家，可以上门。",
        "OK, I am home tomorrow morning for the visit.",
    ),
    ("已经恢复了，谢谢！", "It works again, thank you!"),
    (
        "请尽快处理，已经影响工作了。",
        "Please hurry, this is affecting my work.",
    ),
];

const AGENT_REPLIES: [(&str, &str); 4] = [
    (
        "您好，已为您登记，请先重启光猫和路由器，稍后我们回电确认。",
        "Hello, we have logged this. Please restart the modem and router; we will call you back.",
    ),
    (
        "您好，已安排技术人员明天上午上门检修，请保持电话畅通。",
        "Hello, a technician will visit tomorrow morning; please keep your phone on.",
    ),
    (
        "您好，经核实该费用确属误扣，已为您办理退费，3个工作日内到账。",
        "Hello, we checked and the charge was a mistake; the refund reaches you within 3 working days.",
    ),
    (
        "您好，业务已办理完成，次月1日生效。",
        "Hello, the change is done and takes effect on the 1st of next month.",
    ),
];

/// What a customer writes while still waiting for an answer.
const CUSTOMER_CHASERS: [(&str, &str); 3] = [
    (
        "还没有人联系我，请问处理进度如何？",
        "Nobody has contacted me yet; what is the status?",
    ),
    (
        "补充一下：光猫型号是HG8145V5，宽带账号在营业厅办理的。",
        "To add: the modem is an HG8145V5 and the broadband account was opened at a counter.",
    ),
    (
        "今天又试了一次，问题依旧。",
        "Tried again today, same problem.",
    ),
];

/// What an agent writes after the first answer.
const AGENT_FOLLOW_UPS: [(&str, &str); 3] = [
    (
        "您好，跟进一下，问题是否已经解决？如仍有问题请直接回复。",
        "Hello, following up: is the problem solved? Reply here if it is not.",
    ),
    (
        "您好，工程师已到现场处理，结果稍后短信通知您。",
        "Hello, the engineer is on site; you will get the result by SMS.",
    ),
    (
        "您好，已升级至二线技术支持，预计24小时内给您答复。",
        "Hello, this is escalated to second-line support; expect an answer within 24 hours.",
    ),
];

const NOTES: [&str; 4] = [
    "已联系网络部核查，OLT端口告警。",
    "客户为老用户，建议赠送一个月提速。",
    "转技术支持组处理，附测速截图。",
    "Customer prefers email; callback after 18:00.",
];

const RESOLUTIONS: [(ResolutionCategory, &str, &str); 4] = [
    (
        ResolutionCategory::Solved,
        "已远程重置端口，客户确认恢复。",
        "Port reset remotely; the customer confirmed it works.",
    ),
    (
        ResolutionCategory::Answered,
        "已告知办理方式并发送操作指引短信。",
        "Explained the steps and sent a how-to SMS.",
    ),
    (
        ResolutionCategory::Solved,
        "已退费并致歉，客户表示满意。",
        "Refunded with an apology; the customer is satisfied.",
    ),
    (
        ResolutionCategory::Workaround,
        "临时更换机顶盒，待厂家返修。",
        "Set-top box swapped while the faulty one is repaired.",
    ),
];

const TAGS: [&str; 6] = ["回访", "VIP", "重复来电", "夜间", "升级", "refund"];

fn weighted<T: Copy>(rng: &mut ChaCha8Rng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total.max(1));
    for (value, weight) in choices {
        if pick < *weight {
            return *value;
        }
        pick -= weight;
    }
    choices[0].0
}

/// How generated tickets are spread: over how many days back, and how many
/// messages each conversation holds.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Tickets are created within this many days before now, newer ones
    /// more often (the floor grew over the period).
    pub days: i64,
    /// Messages per ticket, inclusive; `None` keeps the demo's looser
    /// conversations (none to three, by the ticket's state).
    pub messages: Option<(usize, usize)>,
}

impl Shape {
    /// The demo floor: a quarter, zero to three messages a ticket.
    pub const DEMO: Shape = Shape {
        days: 90,
        messages: None,
    };
    /// A benchmark floor: a year, three to five messages a ticket.
    pub const YEAR: Shape = Shape {
        days: 365,
        messages: Some((3, 5)),
    };
}

/// The people tickets are spread over.
pub(crate) struct Floor {
    /// Agents who work tickets, with the team they sit in.
    pub(crate) agents: Vec<(i64, i64)>,
}

/// Creates the category tree and the demo tickets; returns how many tickets.
pub(crate) async fn load(
    tx: &mut Tx,
    caller: &Caller,
    rng: &mut ChaCha8Rng,
    floor: &Floor,
) -> Result<usize, AppError> {
    let mut leaf_ids = Vec::new();
    for ((name, name_en), children) in CATEGORIES {
        let parent = tickets::insert_category(
            &mut tx.conn(),
            &CategoryFields {
                parent_id: None,
                name: name.into(),
                name_en: name_en.into(),
                path: name.into(),
                active: true,
            },
        )
        .await?;
        for (child, child_en) in children {
            let leaf = tickets::insert_category(
                &mut tx.conn(),
                &CategoryFields {
                    parent_id: Some(parent.id),
                    name: child.into(),
                    name_en: child_en.into(),
                    path: format!("{name} / {child}"),
                    active: true,
                },
            )
            .await?;
            leaf_ids.push(leaf.id);
        }
    }
    let everyone: Vec<customers::RosterEntry> = customers::search(
        &mut tx.conn(),
        &customers::Filter::default(),
        customers::Sort::Newest,
        &customers::After::Start,
        10_000,
    )
    .await?
    .into_iter()
    .map(|c| customers::RosterEntry {
        id: c.id,
        language: c.language,
        organization_id: c.organization_id,
    })
    .collect();
    store_generated(
        tx,
        caller,
        rng,
        DEMO_TICKETS,
        Shape::DEMO,
        &leaf_ids,
        &everyone,
        floor,
    )
    .await
}

/// Generates `count` tickets with conversations spread as `shape` says and
/// stores them (with their search documents and creation records) in `tx`.
#[allow(clippy::too_many_arguments)]
async fn store_generated(
    tx: &mut Tx,
    caller: &Caller,
    rng: &mut ChaCha8Rng,
    count: usize,
    shape: Shape,
    leaf_ids: &[i64],
    everyone: &[customers::RosterEntry],
    floor: &Floor,
) -> Result<usize, AppError> {
    if everyone.is_empty() || floor.agents.is_empty() {
        return Ok(0);
    }
    let matrix = PriorityMatrix::default();
    let now = kefu_store::now();
    let mut rows: Vec<(TicketFields, DateTime<Utc>, DateTime<Utc>)> = Vec::with_capacity(count);
    let mut plans: Vec<(Vec<NewMessage>, Vec<String>)> = Vec::with_capacity(count);
    for index in 0..count {
        let customer = &everyone[rng.random_range(0..everyone.len())];
        let english = customer.language == "en";
        let topic = rng.random_range(0..SUBJECTS.len());
        let (ticket_type, subject_zh, subject_en) = SUBJECTS[topic];
        // Newer tickets are more frequent: the floor grew over the period.
        let age_minutes = {
            let x: f64 = rng.random_range(0.0..1.0);
            (x * x * shape.days as f64 * 24.0 * 60.0) as i64
        };
        let created = now - Duration::minutes(age_minutes.max(5));
        let channel = weighted(
            rng,
            &[
                (Channel::Phone, 35),
                (Channel::Email, 15),
                (Channel::Chat, 15),
                (Channel::Counter, 10),
                (Channel::WebForm, 10),
                (Channel::Portal, 5),
                (Channel::Social, 5),
                (Channel::Sms, 3),
                (Channel::Api, 2),
            ],
        );
        let urgency = weighted(
            rng,
            &[(Level::High, 15), (Level::Medium, 55), (Level::Low, 30)],
        );
        let impact = weighted(
            rng,
            &[(Level::High, 10), (Level::Medium, 50), (Level::Low, 40)],
        );
        let age_days = age_minutes / (24 * 60);
        let status = if age_days > 10 {
            weighted(
                rng,
                &[
                    (Status::Closed, 85),
                    (Status::Resolved, 12),
                    (Status::Spam, 3),
                ],
            )
        } else if age_days > 2 {
            weighted(
                rng,
                &[
                    (Status::Resolved, 45),
                    (Status::Closed, 20),
                    (Status::Open, 15),
                    (Status::Pending, 12),
                    (Status::OnHold, 8),
                ],
            )
        } else {
            weighted(
                rng,
                &[
                    (Status::New, 30),
                    (Status::Open, 40),
                    (Status::Pending, 20),
                    (Status::OnHold, 10),
                ],
            )
        };
        let (assignee, team) = if status == Status::New && rng.random_bool(0.6) {
            (None, None)
        } else {
            let (a, t) = floor.agents[rng.random_range(0..floor.agents.len())];
            (Some(a), Some(t))
        };
        let answered = status != Status::New;
        let first_response =
            answered.then(|| created + Duration::minutes(rng.random_range(3..240)));
        let finished = matches!(status, Status::Resolved | Status::Closed);
        let resolved_at = finished.then(|| {
            let span = (now - created).num_minutes().max(10);
            created
                + Duration::minutes(
                    rng.random_range(span / 10..span.max(span / 10 + 1))
                        .min(span),
                )
        });
        let resolution = finished.then(|| RESOLUTIONS[index % RESOLUTIONS.len()]);
        let subject = if english { subject_en } else { subject_zh };
        let fields = TicketFields {
            subject: subject.into(),
            description: if english {
                format!("{subject}. Customer account {}.", customer.id)
            } else {
                format!("{subject}。客户编号 {}，请尽快处理。", customer.id)
            },
            ticket_type,
            service_kind: (ticket_type == TicketType::ServiceRequest).then(|| {
                if topic == 2 {
                    ServiceKind::Change
                } else {
                    *[
                        ServiceKind::Activate,
                        ServiceKind::Change,
                        ServiceKind::Cancel,
                    ]
                    .choose(rng)
                    .unwrap_or(&ServiceKind::Change)
                }
            }),
            category_id: leaf_ids.get(topic).copied(),
            urgency,
            impact,
            priority: matrix.priority(urgency, impact),
            priority_reason: String::new(),
            channel,
            customer_id: Some(customer.id),
            organization_id: customer.organization_id,
            expectation: if ticket_type == TicketType::Complaint {
                if english {
                    "Refund and an apology".into()
                } else {
                    "退费并道歉".into()
                }
            } else {
                String::new()
            },
            wanted_by: (ticket_type == TicketType::ServiceRequest)
                .then(|| (created + Duration::days(3)).date_naive()),
            call_direction: matches!(channel, Channel::Phone | Channel::Counter)
                .then_some(Direction::Inbound),
            call_seconds: matches!(channel, Channel::Phone).then(|| rng.random_range(60..900)),
            status,
            team_id: team,
            assignee_id: assignee,
            resolution_category: resolution.map(|r| r.0),
            resolution: resolution
                .map(|r| if english { r.2 } else { r.1 }.to_owned())
                .unwrap_or_default(),
            merged_into_id: None,
            parent_id: None,
            first_response_at: first_response,
            resolved_at,
            closed_at: (status == Status::Closed).then_some(resolved_at).flatten(),
        };
        let mut messages = match shape.messages {
            Some((least, most)) => {
                let count = rng.random_range(least..=most);
                conversation(
                    rng,
                    count,
                    (topic, english, customer.id),
                    created,
                    first_response.zip(assignee),
                    now,
                )
            }
            None => Vec::new(),
        };
        if let (None, Some(at), Some(agent)) = (shape.messages, first_response, assignee) {
            let (zh, en) = AGENT_REPLIES[topic % AGENT_REPLIES.len()];
            messages.push((
                at,
                MessageKind::Reply,
                Author::Agent(agent),
                if english { en } else { zh }.to_owned(),
            ));
            let later = at + Duration::minutes(rng.random_range(20..600));
            if later < now && rng.random_bool(0.7) {
                let (zh, en) = CUSTOMER_REPLIES[rng.random_range(0..CUSTOMER_REPLIES.len())];
                messages.push((
                    later,
                    MessageKind::Reply,
                    Author::Customer(customer.id),
                    if english { en } else { zh }.to_owned(),
                ));
            }
            if rng.random_bool(0.4) {
                let note = NOTES[rng.random_range(0..NOTES.len())];
                messages.push((
                    at + Duration::minutes(5),
                    MessageKind::Note,
                    Author::Agent(agent),
                    note.to_owned(),
                ));
            }
        }
        messages.sort_by_key(|m| m.0);
        let updated = [
            Some(created),
            fields.first_response_at,
            fields.resolved_at,
            fields.closed_at,
            messages.last().map(|m| m.0),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(created)
        .min(now);
        let tags = if rng.random_bool(0.25) {
            vec![TAGS[rng.random_range(0..TAGS.len())].to_owned()]
        } else {
            Vec::new()
        };
        plans.push((
            messages
                .into_iter()
                .map(|(at, kind, author, body)| NewMessage {
                    ticket_id: 0,
                    kind,
                    author,
                    body,
                    at,
                })
                .collect(),
            tags,
        ));
        rows.push((fields, created, updated));
    }
    // Oldest first, so ticket numbers rise with time as on a real floor.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|i| rows[*i].1);
    let rows: Vec<(TicketFields, DateTime<Utc>, DateTime<Utc>)> =
        order.iter().map(|i| rows[*i].clone()).collect();
    let plans: Vec<(Vec<NewMessage>, Vec<String>)> =
        order.iter().map(|i| plans[*i].clone()).collect();
    let stored = tickets::insert_many(&mut tx.conn(), &rows).await?;
    let mut messages = Vec::new();
    let mut tags = Vec::new();
    for (ticket, (plan, ticket_tags)) in stored.iter().zip(plans) {
        for mut m in plan {
            m.ticket_id = ticket.id;
            messages.push(m);
        }
        tags.extend(ticket_tags.into_iter().map(|t| (ticket.id, t)));
    }
    tickets::add_messages(&mut tx.conn(), &messages).await?;
    let mut texts: std::collections::HashMap<i64, String> = stored
        .iter()
        .map(|t| (t.id, format!("{}\n{}", t.subject, t.description)))
        .collect();
    for m in &messages {
        if let Some(text) = texts.get_mut(&m.ticket_id) {
            text.push('\n');
            text.push_str(&m.body);
        }
    }
    let documents: Vec<(i64, String)> = stored
        .iter()
        .map(|t| {
            let text = texts.remove(&t.id).unwrap_or_default();
            (t.id, crate::search::document(&text))
        })
        .collect();
    tickets::index(&mut tx.conn(), &documents).await?;
    tickets::add_tags_many(&mut tx.conn(), &tags).await?;
    let snapshots: Vec<serde_json::Value> = stored
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or_default())
        .collect();
    let entries: Vec<audit_log::Entry<'_>> = stored
        .iter()
        .zip(&snapshots)
        .map(|(t, snapshot)| audit_log::Entry {
            actor: &caller.actor,
            source: caller.source,
            entity: "ticket",
            entity_id: t.id,
            action: Action::Create,
            changes: kefu_domain::audit::creation(
                snapshot,
                &["version", "created_at", "updated_at"],
            ),
        })
        .collect();
    audit_log::append_many(&mut tx.conn(), &entries).await?;
    Ok(stored.len())
}

/// A message of a generated conversation: when, kind, author, text.
type Said = (DateTime<Utc>, MessageKind, Author, String);

/// A conversation of exactly `count` messages on a ticket created at
/// `created` about `topic` (`english` picks the language): the agent's
/// first answer at `answered` when there is one, then the customer and the
/// agent taking turns with the odd internal note; a ticket nobody answered
/// yet holds the customer's follow-ups. Times rise and stay before `now`.
fn conversation(
    rng: &mut ChaCha8Rng,
    count: usize,
    (topic, english, customer): (usize, bool, i64),
    created: DateTime<Utc>,
    answered: Option<(DateTime<Utc>, i64)>,
    now: DateTime<Utc>,
) -> Vec<Said> {
    let pick = |pair: (&str, &str)| if english { pair.1 } else { pair.0 }.to_owned();
    let mut out: Vec<Said> = Vec::with_capacity(count);
    let mut at = created;
    let step = |rng: &mut ChaCha8Rng, at: DateTime<Utc>| {
        (at + Duration::minutes(rng.random_range(10..480))).min(now)
    };
    let Some((first, agent)) = answered else {
        for _ in 0..count {
            at = step(rng, at);
            let chaser = CUSTOMER_CHASERS[rng.random_range(0..CUSTOMER_CHASERS.len())];
            out.push((
                at,
                MessageKind::Reply,
                Author::Customer(customer),
                pick(chaser),
            ));
        }
        return out;
    };
    at = first.min(now);
    out.push((
        at,
        MessageKind::Reply,
        Author::Agent(agent),
        pick(AGENT_REPLIES[topic % AGENT_REPLIES.len()]),
    ));
    let mut customer_turn = true;
    while out.len() < count {
        at = step(rng, at);
        if rng.random_bool(0.25) {
            let note = NOTES[rng.random_range(0..NOTES.len())];
            out.push((at, MessageKind::Note, Author::Agent(agent), note.to_owned()));
        } else if customer_turn {
            let reply = CUSTOMER_REPLIES[rng.random_range(0..CUSTOMER_REPLIES.len())];
            out.push((
                at,
                MessageKind::Reply,
                Author::Customer(customer),
                pick(reply),
            ));
            customer_turn = false;
        } else {
            let reply = AGENT_FOLLOW_UPS[rng.random_range(0..AGENT_FOLLOW_UPS.len())];
            out.push((at, MessageKind::Reply, Author::Agent(agent), pick(reply)));
            customer_turn = true;
        }
    }
    out
}

/// Adds `count` generated tickets to a database that holds the demo set
/// (for benchmarks), spread over every customer as `shape` says, 20,000 to
/// a transaction; returns how many.
pub async fn load_bulk(
    app: &crate::App,
    count: usize,
    shape: Shape,
    seed: u64,
) -> Result<usize, AppError> {
    use rand::SeedableRng;
    let caller = Caller::system("bench");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut reader = app.store.read().await?;
    let leaf_ids: Vec<i64> = tickets::categories(&mut reader.conn())
        .await?
        .into_iter()
        .filter(|c| c.parent_id.is_some())
        .map(|c| c.id)
        .collect();
    let everyone = customers::roster(&mut reader.conn()).await?;
    let mut floor = Floor { agents: Vec::new() };
    for team in kefu_store::teams::list(&mut reader.conn(), 0, 100).await? {
        if team.name.starts_with("质检") {
            continue;
        }
        for agent in kefu_store::teams::members(&mut reader.conn(), team.id).await? {
            floor.agents.push((agent, team.id));
        }
    }
    drop(reader);
    let mut done = 0;
    while done < count {
        let chunk = (count - done).min(20_000);
        let mut tx = app.store.write().await?;
        done += store_generated(
            &mut tx, &caller, &mut rng, chunk, shape, &leaf_ids, &everyone, &floor,
        )
        .await?;
        tx.commit().await?;
    }
    let mut tx = app.store.write().await?;
    kefu_store::tickets::analyze_after_bulk(&mut tx.conn()).await?;
    tx.commit().await?;
    Ok(done)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_generated_conversation_has_its_length_in_order_and_before_now() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let now = kefu_store::now();
        for round in 0..500 {
            let count = 3 + round % 3;
            let created = now - Duration::minutes(rng.random_range(5..60 * 24 * 365));
            let answered = (round % 4 != 0).then(|| (created + Duration::minutes(30), 9));
            let said = conversation(
                &mut rng,
                count,
                (round % 15, round % 2 == 0, 42),
                created,
                answered,
                now,
            );
            assert_eq!(said.len(), count);
            assert!(said.windows(2).all(|w| w[0].0 <= w[1].0), "out of order");
            assert!(said.iter().all(|m| m.0 >= created && m.0 <= now));
            match answered {
                // The agent answers first; the customer and notes follow.
                Some((_, agent)) => {
                    assert_eq!(said[0].2, Author::Agent(agent));
                    assert_eq!(said[0].1, MessageKind::Reply);
                    assert!(said.iter().all(|m| match m.2 {
                        Author::Agent(a) => a == agent,
                        Author::Customer(c) => c == 42 && m.1 == MessageKind::Reply,
                        _ => false,
                    }));
                }
                // Nobody answered: only the customer has written.
                None => assert!(
                    said.iter()
                        .all(|m| m.2 == Author::Customer(42) && m.1 == MessageKind::Reply)
                ),
            }
        }
    }
}
