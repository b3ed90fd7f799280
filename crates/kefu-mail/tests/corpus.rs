//! Every message of the corpus, real and made, decodes to what a person
//! reading it in a mail client would see.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_mail::noise::Automatic;
use kefu_mail::{Mail, parse};
use std::path::PathBuf;

fn corpus(path: &str) -> Mail {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(path);
    let raw = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    parse(&raw).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What one message must decode to.
struct Expect {
    path: &'static str,
    subject: &'static str,
    from: &'static str,
    from_name: &'static str,
    text: &'static [&'static str],
    files: &'static [&'static str],
}

const EXPECTED: &[Expect] = &[
    Expect {
        path: "real/erofs_7f4c6f70e79c.eml",
        subject: "撤回: [PATCH 2/2] erofs-utils: support 128-bit filesystem UUID",
        from: "gaoxiang25@huawei.com",
        from_name: "Gaoxiang (xiang, OS Lab)",
        text: &["将撤回邮件"],
        files: &[],
    },
    Expect {
        path: "real/erofs_879cec9b0edc.eml",
        subject: "回复：eros性能问题",
        from: "353779207@qq.com",
        from_name: "ZHOU",
        text: &["没有启用directIO", "我尝试一下您提供的"],
        files: &[],
    },
    Expect {
        path: "real/erofs_ac87ebe4e44d.eml",
        subject: "Re: eros性能问题",
        from: "gaoxiang25@huawei.com",
        from_name: "Gao Xiang",
        text: &["On 2019/7/18 10:54, Gao Xiang wrote:"],
        files: &[],
    },
    Expect {
        path: "real/erofs_bb7e5dfa0b72.eml",
        subject: "答复: 答复: [External Mail]Re: Request for Assistance: Decompressing EROFS Image without Mounting",
        from: "linux-erofs@lists.ozlabs.org",
        from_name: "王硕 via Linux-erofs",
        text: &["Thank you for your suggestions."],
        files: &[],
    },
    Expect {
        path: "real/openbmc_053a2e851ea0.eml",
        subject: "RE: overlayFS security concern",
        from: "zkxz@hotmail.com",
        from_name: "Kun Zhao",
        text: &["Thank you, Chunhui."],
        files: &[
            "A24FB62FC7144662BA1C9A0C79685324.png",
            "82282195F0154A20AF6CCE387F3ED633.png",
        ],
    },
    Expect {
        path: "real/openbmc_5796fb8dce8d.eml",
        subject: "回覆: 回覆: Byosoft OpenBMC CLA application",
        from: "figo@byosoft.com.cn",
        from_name: "",
        text: &["Great! Thank you, Taylor.", "原始"],
        files: &[],
    },
    Expect {
        path: "real/openbmc_5e6224290e40.eml",
        subject: "回覆: [Phishing Risk] [External] Re: [phosphor-sel-logger] How to add a journal entry manually",
        from: "chris.chen3@flex.com",
        from_name: "Chris Chen (TPI)",
        text: &["Understood. Thanks for you"],
        files: &[],
    },
    Expect {
        path: "real/openbmc_9ba7f6a25149.eml",
        subject: "Re: 回覆: Byosoft OpenBMC CLA application",
        from: "kurt.r.taylor@gmail.com",
        from_name: "krtaylor",
        text: &["figo@byosoft.com.cn"],
        files: &[],
    },
    Expect {
        path: "real/openbmc_a5a941516d01.eml",
        subject: "Re:Re: Re: Network Settings GUI",
        from: "rxsun@zd-tech.com.cn",
        from_name: "孙瑞霞",
        text: &["I will be glad to meet at 7:00AM"],
        files: &[],
    },
    Expect {
        path: "real/openbmc_b53eeb40d6d5.eml",
        subject: "Re: [IPMI] About LAN interface",
        from: "zhuysh@inspur.com",
        from_name: "Simon Zhu(朱英澍)",
        text: &["I know lanplus interface is"],
        files: &["smime.p7s"],
    },
    Expect {
        path: "real/openbmc_cdae418dbebe.eml",
        subject: "回覆: [PATCH] Add eSPI device driver (flash channel)",
        from: "chiawei_wang@aspeedtech.com",
        from_name: "ChiaWei Wang",
        text: &["Most of the implementation originates fr"],
        files: &[],
    },
    Expect {
        path: "real/openbmc_fdebe7b865d7.eml",
        subject: "Re: Unable to use IPMI command \"set lan access\"",
        from: "richard.marian.thomaiyar@linux.intel.com",
        from_name: "Thomaiyar, Richard Marian",
        text: &["Will start addressing the comm"],
        files: &[],
    },
    Expect {
        path: "made/outlook_gb2312_reply.eml",
        subject: "答复: 宽带断线 [#12]",
        from: "li.lei@example.cn",
        from_name: "李雷",
        text: &["网络已经恢复正常", "发件人: 客服中心"],
        files: &[],
    },
    Expect {
        path: "made/qq_gbk_attachments.eml",
        subject: "开具发票申请",
        from: "12345678@qq.com",
        from_name: "王芳",
        text: &["附件是发票和合同，请查收。"],
        files: &["发票 2026.pdf", "合同.docx"],
    },
    Expect {
        path: "made/big5_qp.eml",
        subject: "網路斷線",
        from: "chen@example.com.tw",
        from_name: "陳大文",
        text: &["我家的網路從昨天晚上開始斷線"],
        files: &[],
    },
    Expect {
        path: "made/iso2022jp.eml",
        subject: "ルーター設定の質問",
        from: "yamada@example.jp",
        from_name: "山田太郎",
        text: &["ルーターの設定について質問があります"],
        files: &[],
    },
    Expect {
        path: "made/latin_qp.eml",
        subject: "Facture erronée café",
        from: "lukasz@example.pl",
        from_name: "Łukasz Wiśniewski",
        text: &["la facture du café est erronée"],
        files: &[],
    },
    Expect {
        path: "made/raw_8bit_gbk_headers.eml",
        subject: "光猫指示灯红色闪烁",
        from: "zhaomin@example.cn",
        from_name: "赵敏",
        text: &["光猫的LOS灯一直红色闪烁"],
        files: &[],
    },
    Expect {
        path: "made/nested_related_inline.eml",
        subject: "Router shows error 651",
        from: "ana@example.com",
        from_name: "Ana Lima",
        text: &["Screenshot of the error"],
        files: &["shot.png", "log.pdf"],
    },
    Expect {
        path: "made/spam_flagged.eml",
        subject: "You won!!!",
        from: "promo@lottery.example",
        from_name: "Winner",
        text: &["Claim your prize now."],
        files: &[],
    },
    Expect {
        path: "made/html_only_no_id.eml",
        subject: "套餐升级 speed",
        from: "wang.qiang@example.cn",
        from_name: "Wang Qiang",
        text: &[
            "套餐升级后网速没有变化。",
            "Plan upgraded, speed unchanged.",
        ],
        files: &[],
    },
];

#[test]
fn every_message_decodes_as_a_reader_sees_it() {
    let mut failures = Vec::new();
    for e in EXPECTED {
        let mail = corpus(e.path);
        let files: Vec<&str> = mail
            .attachments
            .iter()
            .map(|a| a.file_name.as_str())
            .collect();
        let mut wrong = Vec::new();
        if mail.subject != e.subject {
            wrong.push(format!("subject {:?}", mail.subject));
        }
        if mail.from.address != e.from || mail.from.name != e.from_name {
            wrong.push(format!("from {:?}", mail.from));
        }
        for t in e.text {
            if !mail.text.contains(t) {
                wrong.push(format!(
                    "text lacks {t:?}: {:?}",
                    mail.text.chars().take(300).collect::<String>()
                ));
            }
        }
        if files != e.files {
            wrong.push(format!("files {files:?}"));
        }
        if mail.text.contains('\u{FFFD}') || mail.subject.contains('\u{FFFD}') {
            wrong.push("replacement characters".into());
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {}", e.path, wrong.join("; ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_file_of_the_corpus_is_checked() {
    for dir in ["real", "made"] {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus")
            .join(dir);
        for entry in std::fs::read_dir(&root).expect("corpus directory") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if !name.ends_with(".eml") {
                continue;
            }
            let path = format!("{dir}/{name}");
            let special = [
                "real/erofs_1d8072ba01af.eml",
                "made/malformed_encoded_words.eml",
                "made/dsn_bounce.eml",
                "made/auto_reply.eml",
            ];
            assert!(
                special.contains(&path.as_str()) || EXPECTED.iter().any(|e| e.path == path),
                "{path} has no expectation"
            );
        }
    }
}

#[test]
fn mailing_list_mail_is_automatic_but_people_are_not() {
    assert_eq!(
        corpus("real/erofs_879cec9b0edc.eml").automatic,
        Some(Automatic::List)
    );
    assert_eq!(corpus("made/big5_qp.eml").automatic, None);
    let oof = corpus("made/auto_reply.eml");
    assert_eq!(oof.automatic, Some(Automatic::AutoReply));
    assert_eq!(oof.subject, "自动回复: Re: 宽带断线 [#12]");
    assert_eq!(oof.in_reply_to, vec!["kefu.12.40.k3f9@kefu.example"]);
}

#[test]
fn threading_headers_are_read() {
    let mail = corpus("made/outlook_gb2312_reply.eml");
    assert_eq!(
        mail.message_id,
        "TY2PR01MB1234ABCD@TY2PR01MB1234.apcprd01.prod.outlook.com"
    );
    assert!(mail.has_message_id);
    assert_eq!(mail.in_reply_to, vec!["kefu.12.40.k3f9@kefu.example"]);
    assert_eq!(
        mail.references,
        vec![
            "kefu.12.30.k3f9@kefu.example",
            "kefu.12.40.k3f9@kefu.example"
        ]
    );
    assert_eq!(kefu_mail::thread::ticket_tag(&mail.subject), Some(12));
    assert_eq!(mail.to[0].address, "support@kefu.example");
    assert_eq!(mail.to[0].name, "客服中心");
    let (fresh, quoted) = kefu_mail::quote::split(&mail.text);
    assert!(
        fresh.contains("网络已经恢复正常") && !fresh.contains("发件人"),
        "{fresh:?}"
    );
    assert!(quoted.contains("请重启光猫后再试"));
    let html = mail.html.expect("the HTML alternative");
    assert!(
        html.contains("网络已经恢复正常") && !html.contains("<style"),
        "{html}"
    );
}

#[test]
fn recipients_in_copy_are_kept() {
    let mail = corpus("made/qq_gbk_attachments.eml");
    let cc: Vec<(&str, &str)> = mail
        .cc
        .iter()
        .map(|m| (m.name.as_str(), m.address.as_str()))
        .collect();
    assert_eq!(
        cc,
        vec![
            ("财务部", "finance@example.cn"),
            ("Zhang Wei", "zhang.wei@example.cn")
        ]
    );
    let pdf = &mail.attachments[0];
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(pdf.bytes.starts_with(b"%PDF-1.4"));
    assert!(!pdf.inline);
}

#[test]
fn inline_images_and_hostile_html() {
    let mail = corpus("made/nested_related_inline.eml");
    let shot = &mail.attachments[0];
    assert_eq!(shot.content_id.as_deref(), Some("shot1@kefu.test"));
    assert!(shot.inline);
    assert!(shot.bytes.starts_with(b"\x89PNG"));
    assert!(!mail.attachments[1].inline);
    let html = mail.html.expect("html");
    assert!(html.contains("cid:shot1@kefu.test"));
    for bad in ["<script", "<form", "<input", "onclick"] {
        assert!(!html.contains(bad), "{bad} in {html}");
    }
    assert!(mail.remote_images);
}

#[test]
fn malformed_encoded_words_still_read() {
    let mail = corpus("made/malformed_encoded_words.eml");
    assert_eq!(mail.from.name, "周杰");
    assert!(mail.subject.starts_with("Re:"), "{:?}", mail.subject);
    assert!(mail.subject.contains("问题"), "{:?}", mail.subject);
    assert!(mail.text.contains("热线一直占线"));
}

#[test]
fn bounces_name_the_failed_message() {
    let mail = corpus("made/dsn_bounce.eml");
    let bounce = mail.bounce.expect("a bounce");
    assert_eq!(
        bounce.original_message_id.as_deref(),
        Some("kefu.12.41.k3f9@kefu.example")
    );
    assert_eq!(bounce.recipients, vec!["nobody@example.cn"]);
    assert_eq!(bounce.status, "5.1.1");
    assert!(
        bounce.diagnostic.contains("User unknown"),
        "{}",
        bounce.diagnostic
    );
    assert!(mail.automatic.is_some());
}

#[test]
fn spam_and_missing_ids() {
    assert!(corpus("made/spam_flagged.eml").spam);
    assert!(!corpus("made/big5_qp.eml").spam);
    let a = corpus("made/html_only_no_id.eml");
    assert!(!a.has_message_id);
    assert_eq!(a.message_id, corpus("made/html_only_no_id.eml").message_id);
    assert!(a.html.is_some());
}

#[test]
fn a_real_spam_message_with_a_broken_charset_is_still_read() {
    let mail = corpus("real/erofs_1d8072ba01af.eml");
    assert_eq!(mail.from.address, "admin@ofetyu.cn");
    assert!(!mail.subject.is_empty());
    assert!(!mail.text.is_empty());
}

#[test]
fn nonsense_is_refused_not_panicked_on() {
    assert!(parse(b"").is_err());
    assert!(parse(b"just some words without headers").is_err());
    assert!(parse(b"Subject: no sender\r\n\r\nbody").is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Whatever arrives, reading it answers: a mail or an error, never a panic.
    #[test]
    fn any_bytes_are_read_without_panicking(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        let _ = parse(&raw);
    }

    /// Corpus messages cut or damaged anywhere still read without a panic.
    #[test]
    fn damaged_messages_are_read_without_panicking(cut in 0usize..4000, flip in 0usize..4000, byte in proptest::prelude::any::<u8>()) {
        let mut raw = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/made/nested_related_inline.eml")).unwrap();
        if flip < raw.len() {
            raw[flip] = byte;
        }
        raw.truncate(cut.min(raw.len()));
        let _ = parse(&raw);
    }
}
