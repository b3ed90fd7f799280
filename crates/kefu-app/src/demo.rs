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
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DemoLogin {
    /// Role code name.
    pub role: String,
    /// Email to sign in with.
    pub email: String,
    /// Password.
    pub password: String,
}

/// What the demo loader did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DemoSummary {
    /// False when the database already held data and nothing was loaded.
    pub loaded: bool,
    /// Agents created.
    pub agents: usize,
    /// Teams created.
    pub teams: usize,
    /// Organizations created.
    pub organizations: usize,
    /// Customers created.
    pub customers: usize,
    /// Orders recorded.
    pub orders: usize,
    /// Work orders created.
    pub tickets: usize,
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
            organizations: 0,
            customers: 0,
            orders: 0,
            tickets: 0,
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
    let mut floor = crate::demo_tickets::Floor { agents: Vec::new() };
    for (name, description, members) in teams {
        let lead = members.choose(&mut rng).copied();
        let working = !name.starts_with("质检");
        let team = directory::create_team_in(
            tx,
            caller,
            NewTeam {
                name: name.into(),
                description: description.into(),
                lead_agent_id: lead,
                member_ids: members.clone(),
            },
        )
        .await?;
        if working {
            floor
                .agents
                .extend(members.iter().map(|agent| (*agent, team.team.id)));
        }
    }
    let (organizations, customers, orders) = load_customers(tx, caller, &mut rng).await?;
    let tickets = crate::demo_tickets::load(tx, caller, &mut rng, &floor).await?;
    crate::sla::load_demo(tx, caller).await?;
    crate::routing::load_demo(tx, caller).await?;
    Ok(DemoSummary {
        loaded: true,
        agents: created,
        teams: team_count,
        organizations,
        customers,
        orders,
        tickets,
        logins: logins(),
    })
}

/// Places customers live: (province, city, districts, region).
const PLACES: [(&str, &str, [&str; 3], &str); 10] = [
    ("北京市", "北京市", ["朝阳区", "海淀区", "东城区"], "华北"),
    ("上海市", "上海市", ["浦东新区", "徐汇区", "静安区"], "华东"),
    ("广东省", "广州市", ["天河区", "越秀区", "番禺区"], "华南"),
    ("广东省", "深圳市", ["南山区", "福田区", "宝安区"], "华南"),
    ("浙江省", "杭州市", ["西湖区", "滨江区", "余杭区"], "华东"),
    ("江苏省", "南京市", ["鼓楼区", "玄武区", "江宁区"], "华东"),
    ("四川省", "成都市", ["武侯区", "锦江区", "高新区"], "西南"),
    ("湖北省", "武汉市", ["洪山区", "江汉区", "武昌区"], "华中"),
    ("陕西省", "西安市", ["雁塔区", "碑林区", "未央区"], "西北"),
    ("辽宁省", "沈阳市", ["和平区", "沈河区", "浑南区"], "东北"),
];

const STREETS: [&str; 8] = [
    "建国路88号",
    "中山北路120号",
    "人民大道56号",
    "解放路9号院",
    "科技园南区3栋",
    "文三路478号",
    "长江路100号",
    "光华大道二段17号",
];

/// Organizations: (name, industry). English names for the international desk's customers.
const ORGANIZATIONS: [(&str, &str); 16] = [
    ("杭州云帆科技有限公司", "信息技术"),
    ("上海申达物流有限公司", "物流"),
    ("北京启明教育咨询有限公司", "教育"),
    ("广州众信医疗器械有限公司", "医疗"),
    ("深圳蓝海餐饮管理有限公司", "餐饮"),
    ("南京恒通精密制造有限公司", "制造"),
    ("成都华联商贸有限公司", "零售"),
    ("武汉博雅文化传媒有限公司", "文化传媒"),
    ("西安秦川软件有限公司", "信息技术"),
    ("沈阳北方重工配套有限公司", "制造"),
    ("苏州金鼎投资管理有限公司", "金融"),
    ("杭州绿野生鲜超市", "零售"),
    ("Pacific Rim Trading Ltd", "Trade"),
    ("Harbor Design Studio", "Design"),
    ("Northwind Consulting", "Consulting"),
    ("Lotus Dental Clinic", "Healthcare"),
];

const ENGLISH_CUSTOMERS: [(&str, &str); 12] = [
    ("James", "Miller"),
    ("Olivia", "Brown"),
    ("Lucas", "Schmidt"),
    ("Hannah", "Kim"),
    ("Noah", "Garcia"),
    ("Emma", "Wilson"),
    ("Ethan", "Nguyen"),
    ("Sophie", "Martin"),
    ("Liam", "Taylor"),
    ("Chloe", "Dubois"),
    ("Ryan", "Patel"),
    ("Mia", "Johnson"),
];

const TAGS: [&str; 10] = [
    "宽带",
    "5G套餐",
    "家庭融合",
    "IPTV",
    "老用户",
    "学生",
    "企业专线",
    "高价值",
    "易投诉",
    "expat",
];

const NOTES: [&str; 6] = [
    "偏好短信联系，工作日晚上方便接电话。",
    "家中有老人，上门安装请提前预约。",
    "对网速要求高，在家办公。",
    "多次咨询千兆宽带升级，价格敏感。",
    "Prefers email in English; available after 18:00.",
    "企业专线联系人，故障需两小时内响应。",
];

/// Products and their prices in yuan.
const PRODUCTS: [(&str, &str); 10] = [
    ("100M 宽带包年", "960"),
    ("300M 宽带包年", "1380"),
    ("1000M 千兆宽带包年", "1980"),
    ("5G 畅享套餐 129元/月", "129"),
    ("5G 尊享套餐 199元/月", "199"),
    ("家庭融合套餐 169元/月", "169"),
    ("IPTV 高清影视包", "30"),
    ("光猫更换", "150"),
    ("流量加油包 30GB", "30"),
    ("国际漫游包 7天", "98"),
];

const ORDER_CHANNELS: [&str; 4] = ["营业厅", "app", "web", "电话"];

/// How many demo customers are made.
pub const DEMO_CUSTOMERS: usize = 320;

/// Customers, organizations and orders, through the same use cases an
/// agent uses. A few customers share a phone number on purpose, as
/// duplicates do in real archives.
async fn load_customers(
    tx: &mut Tx,
    caller: &Caller,
    rng: &mut ChaCha8Rng,
) -> Result<(usize, usize, usize), AppError> {
    use crate::customers::{
        ContactInput, NewCustomer, OrderInput, OrganizationInput, add_order_in, create_customer_in,
        create_organization_in,
    };
    use rand::Rng;
    let sizes = ["micro", "small", "medium", "large"];
    let mut organizations: Vec<(i64, &str, usize)> = Vec::new();
    for (index, (name, industry)) in ORGANIZATIONS.into_iter().enumerate() {
        let place = rng.random_range(0..PLACES.len());
        let org = create_organization_in(
            tx,
            caller,
            &OrganizationInput {
                name: name.into(),
                region: Some(PLACES[place].3.into()),
                industry: Some(industry.into()),
                company_size: sizes.choose(rng).map(|s| (*s).to_owned()),
                // One company lets its staff follow each other's requests.
                portal_shared: Some(index == 0),
                ..OrganizationInput::default()
            },
        )
        .await?;
        organizations.push((org.id, industry, place));
    }
    let now = chrono::Utc::now();
    let mut used_phones = std::collections::HashSet::new();
    let mut previous_phone = String::new();
    let mut order_count = 0;
    for index in 0..DEMO_CUSTOMERS {
        let english = index % 8 == 5;
        let (name, handle, language) = if english {
            let (first, last) = ENGLISH_CUSTOMERS
                .choose(rng)
                .copied()
                .unwrap_or(("Alex", "Lee"));
            (
                format!("{first} {last}"),
                format!("{}.{}", first.to_lowercase(), last.to_lowercase()),
                "en",
            )
        } else {
            let (surname, surname_py) = SURNAMES.choose(rng).copied().unwrap_or(("王", "wang"));
            let (given, given_py) = GIVEN_NAMES.choose(rng).copied().unwrap_or(("芳", "fang"));
            (
                format!("{surname}{given}"),
                format!("{surname_py}{given_py}"),
                "zh-CN",
            )
        };
        // Every 60th customer shares the previous one's phone: a duplicate to merge.
        let phone = if index % 60 == 59 && !previous_phone.is_empty() {
            previous_phone.clone()
        } else {
            loop {
                let prefix = ["138", "139", "186", "135", "158", "177", "199"]
                    .choose(rng)
                    .copied()
                    .unwrap_or("138");
                let candidate = format!("{prefix}{:08}", rng.random_range(0..100_000_000u32));
                if used_phones.insert(candidate.clone()) {
                    break candidate;
                }
            }
        };
        previous_phone = phone.clone();
        let mut contact_points = vec![ContactInput {
            kind: "phone".into(),
            value: phone,
            label: String::new(),
        }];
        if rng.random_bool(0.65) {
            let domain = if english {
                ["gmail.com", "outlook.com", "icloud.com"]
            } else {
                ["qq.com", "163.com", "126.com"]
            }
            .choose(rng)
            .copied()
            .unwrap_or("qq.com");
            contact_points.push(ContactInput {
                kind: "email".into(),
                value: format!("{handle}{index}@{domain}"),
                label: String::new(),
            });
        }
        if !english && rng.random_bool(0.4) {
            contact_points.push(ContactInput {
                kind: "wechat".into(),
                value: format!("wx_{handle}{index}"),
                label: String::new(),
            });
        }
        let organization = rng
            .random_bool(0.25)
            .then(|| organizations.choose(rng).copied())
            .flatten();
        let place = organization.map_or_else(|| rng.random_range(0..PLACES.len()), |o| o.2);
        let (province, city, districts, region) = PLACES[place];
        let grade = match rng.random_range(0..100) {
            0..5 => "vip",
            5..20 => "a",
            20..55 => "b",
            _ => "c",
        };
        let mut tags: Vec<String> = Vec::new();
        for _ in 0..rng.random_range(0..3) {
            if let Some(tag) = TAGS.choose(rng) {
                tags.push((*tag).to_owned());
            }
        }
        if english {
            tags.push("expat".into());
        }
        let input = NewCustomer {
            name,
            gender: Some(
                ["female", "male", "unknown"]
                    .choose(rng)
                    .copied()
                    .unwrap_or("unknown")
                    .into(),
            ),
            birthday: rng.random_bool(0.3).then(|| {
                format!(
                    "{}-{:02}-{:02}",
                    rng.random_range(1955..2004),
                    rng.random_range(1..13),
                    rng.random_range(1..29)
                )
            }),
            language: Some(language.into()),
            organization_id: organization.map(|o| o.0),
            province: Some(province.into()),
            city: Some(city.into()),
            district: districts.choose(rng).map(|d| (*d).to_owned()),
            street: rng
                .random_bool(0.5)
                .then(|| STREETS.choose(rng).map(|s| (*s).to_owned()))
                .flatten(),
            region: Some(region.into()),
            industry: organization.map(|o| o.1.to_owned()),
            grade: Some(grade.into()),
            notes: rng
                .random_bool(0.3)
                .then(|| NOTES.choose(rng).map(|n| (*n).to_owned()))
                .flatten(),
            external_id: Some(format!("BSS-{:07}", 1_000_000 + index * 7)),
            tags,
            contact_points,
            ..NewCustomer::default()
        };
        let customer_id = create_customer_in(tx, caller, &input).await?;
        let orders = match grade {
            "vip" => rng.random_range(4..10),
            "a" => rng.random_range(2..7),
            "b" => rng.random_range(1..4),
            _ => rng.random_range(0..2),
        };
        for _ in 0..orders {
            let (product, price) = PRODUCTS.choose(rng).copied().unwrap_or(PRODUCTS[0]);
            let ordered_at = now
                - chrono::Duration::days(rng.random_range(1..365))
                - chrono::Duration::minutes(rng.random_range(0..1440));
            add_order_in(
                tx,
                caller,
                customer_id,
                &OrderInput {
                    ordered_at,
                    amount: serde_json::Value::String(price.into()),
                    currency: None,
                    product: product.into(),
                    channel: ORDER_CHANNELS.choose(rng).map(|c| (*c).to_owned()),
                    external_id: None,
                },
            )
            .await?;
            order_count += 1;
        }
    }
    Ok((organizations.len(), DEMO_CUSTOMERS, order_count))
}
