//! The demo data set: a broadband and mobile operator's service floor.
//!
//! Reproducible from a seed: the same seed gives the same agents, teams
//! and memberships. Each capability adds its own records here, so that a
//! demo install fills every screen like a real floor. Everything is loaded
//! in one transaction, through the same use cases a user would call, with
//! the demo loader as the audited author.

use crate::directory::{self, NewAgentInput, NewTeam};
use crate::{App, AppError, Caller};
use kefu_store::company::{self, CompanyFields};
use kefu_store::{Tx, agents};
use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The seed `kefu demo` uses when none is given.
pub const DEFAULT_SEED: u64 = 2026;
/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "kefu-demo";

/// A sign-in the demo prints for people to try.
#[derive(Debug, Clone, Serialize)]
pub struct DemoLogin {
    /// Role code name.
    pub role: String,
    /// Email to sign in with.
    pub email: String,
    /// Password.
    pub password: String,
}

/// What the demo loader did.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// False when the database already held data and nothing was loaded.
    pub loaded: bool,
    /// Agents created.
    pub agents: usize,
    /// Teams created.
    pub teams: usize,
    /// The sign-ins to try, one per role.
    pub logins: Vec<DemoLogin>,
}

/// The fixed sign-in accounts, one per role: (email, name, role, language).
const ROLE_ACCOUNTS: [(&str, &str, &str, &str); 7] = [
    ("admin@xinghe.example", "系统管理员 Admin", "admin", "zh-CN"),
    ("manager@xinghe.example", "李娜", "manager", "zh-CN"),
    ("agent@xinghe.example", "王芳", "agent", "zh-CN"),
    ("support@xinghe.example", "张伟", "tech_support", "zh-CN"),
    ("qa@xinghe.example", "刘洋", "qa_inspector", "zh-CN"),
    ("trainer@xinghe.example", "陈静", "trainer", "zh-CN"),
    ("analyst@xinghe.example", "Emily Carter", "analyst", "en"),
];

const SURNAMES: [(&str, &str); 18] = [
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("赵", "zhao"),
    ("吴", "wu"),
    ("周", "zhou"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("林", "lin"),
];

const GIVEN_NAMES: [(&str, &str); 20] = [
    ("静", "jing"),
    ("敏", "min"),
    ("磊", "lei"),
    ("洋", "yang"),
    ("艳", "yan"),
    ("勇", "yong"),
    ("军", "jun"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀英", "xiuying"),
    ("桂英", "guiying"),
    ("志强", "zhiqiang"),
    ("晓东", "xiaodong"),
    ("丽华", "lihua"),
    ("建国", "jianguo"),
    ("海燕", "haiyan"),
    ("雪梅", "xuemei"),
];

const ENGLISH_NAMES: [(&str, &str); 4] = [
    ("Daniel Wong", "daniel.wong"),
    ("Sarah Lim", "sarah.lim"),
    ("Michael Tan", "michael.tan"),
    ("Grace Ho", "grace.ho"),
];

/// Which team a generated agent joins, and with what role.
#[derive(Clone, Copy)]
enum Desk {
    FrontLine,
    TechSupport,
    Complaints,
    Vip,
    International,
}

/// Loads the demo set if the database is empty; reports what it did.
pub async fn load(app: &App, seed: u64) -> Result<DemoSummary, AppError> {
    let caller = Caller::system("demo");
    let password_hash = {
        let password = DEMO_PASSWORD.to_owned();
        tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))??
    };
    let mut tx = app.store.write().await?;
    let empty =
        agents::count(&mut tx.conn()).await? == 0 && company::get(&mut tx.conn()).await?.is_none();
    if !empty {
        return Ok(DemoSummary {
            loaded: false,
            agents: 0,
            teams: 0,
            logins: logins(),
        });
    }
    let summary = load_into(&mut tx, &caller, seed, &password_hash).await?;
    tx.commit().await?;
    Ok(summary)
}

fn logins() -> Vec<DemoLogin> {
    ROLE_ACCOUNTS
        .iter()
        .map(|(email, _, role, _)| DemoLogin {
            role: (*role).to_owned(),
            email: (*email).to_owned(),
            password: DEMO_PASSWORD.to_owned(),
        })
        .collect()
}

/// Creates one demo agent with the shared demo password; returns its id.
async fn add_agent(
    tx: &mut Tx,
    caller: &Caller,
    email: String,
    display_name: String,
    role: &str,
    language: &str,
    password_hash: &str,
) -> Result<i64, AppError> {
    let input = NewAgentInput {
        email,
        display_name,
        role: role.into(),
        language: Some(language.into()),
        time_zone: None,
        password: None,
    };
    let agent =
        directory::create_agent_in(tx, caller, input, Some(password_hash.to_owned())).await?;
    Ok(agent.id)
}

async fn load_into(
    tx: &mut Tx,
    caller: &Caller,
    seed: u64,
    password_hash: &str,
) -> Result<DemoSummary, AppError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    company::insert(
        &mut tx.conn(),
        &CompanyFields {
            name: "星河宽带".into(),
            name_en: "StarRiver Broadband".into(),
            time_zone: "Asia/Shanghai".into(),
            default_language: "zh-CN".into(),
        },
    )
    .await?;

    let mut role_ids = std::collections::HashMap::new();
    for (email, name, role, language) in ROLE_ACCOUNTS {
        let id = add_agent(
            tx,
            caller,
            email.into(),
            name.into(),
            role,
            language,
            password_hash,
        )
        .await?;
        role_ids.insert(role, id);
    }

    // Generated floor staff: unique Chinese names for the domestic desks,
    // English names for the international desk.
    let mut names: Vec<(String, String)> = Vec::new();
    for (surname, surname_py) in SURNAMES {
        for (given, given_py) in GIVEN_NAMES {
            names.push((
                format!("{surname}{given}"),
                format!("{given_py}.{surname_py}"),
            ));
        }
    }
    names.shuffle(&mut rng);
    let desks = [
        (Desk::FrontLine, 8),
        (Desk::TechSupport, 4),
        (Desk::Complaints, 4),
        (Desk::Vip, 3),
        (Desk::International, ENGLISH_NAMES.len()),
    ];
    let mut desk_members: Vec<Vec<i64>> = vec![Vec::new(); desks.len()];
    let mut next_name = names.into_iter();
    let mut english = ENGLISH_NAMES.iter();
    let mut created = ROLE_ACCOUNTS.len();
    for (index, (desk, count)) in desks.iter().enumerate() {
        for _ in 0..*count {
            let (display_name, handle, language) = match desk {
                Desk::International => match english.next() {
                    Some((name, handle)) => ((*name).to_owned(), (*handle).to_owned(), "en"),
                    None => break,
                },
                _ => match next_name.next() {
                    Some((name, handle)) => (name, handle, "zh-CN"),
                    None => break,
                },
            };
            let role = match desk {
                Desk::TechSupport => "tech_support",
                _ => "agent",
            };
            let email = format!("{handle}@xinghe.example");
            let id = add_agent(
                tx,
                caller,
                email,
                display_name,
                role,
                language,
                password_hash,
            )
            .await?;
            desk_members[index].push(id);
            created += 1;
        }
    }

    let id_of = |role: &str| role_ids.get(role).copied();
    // The fixed accounts sit where their roles work.
    let mut front = desk_members[0].clone();
    front.extend(id_of("agent"));
    let mut tech = desk_members[1].clone();
    tech.extend(id_of("tech_support"));
    let quality: Vec<i64> = [id_of("qa_inspector"), id_of("trainer")]
        .into_iter()
        .flatten()
        .collect();
    let teams = [
        (
            "一线客服组",
            "Front line: broadband and mobile plan inquiries, service requests · 宽带与手机套餐咨询、业务办理",
            front,
        ),
        (
            "技术支持组",
            "Second line: faults, outages, installation visits · 故障、断网、上门安装",
            tech,
        ),
        (
            "投诉处理组",
            "Complaints: verification, solutions, callbacks · 投诉核实、方案、回访",
            desk_members[2].clone(),
        ),
        (
            "VIP专席",
            "VIP and key accounts, 24-hour line · 大客户与VIP，24小时专线",
            desk_members[3].clone(),
        ),
        (
            "国际客服组",
            "International desk, English-speaking customers · 英文客户",
            desk_members[4].clone(),
        ),
        (
            "质检与培训组",
            "Quality inspection and training · 质检与培训",
            quality,
        ),
    ];
    let team_count = teams.len();
    for (name, description, members) in teams {
        let lead = members.choose(&mut rng).copied();
        directory::create_team_in(
            tx,
            caller,
            NewTeam {
                name: name.into(),
                description: description.into(),
                lead_agent_id: lead,
                member_ids: members,
            },
        )
        .await?;
    }
    Ok(DemoSummary {
        loaded: true,
        agents: created,
        teams: team_count,
        logins: logins(),
    })
}
