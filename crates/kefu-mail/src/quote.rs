//! Finding where a reply's quoted history begins, so the display can
//! fold it (it is never deleted: the full text stays searchable and the
//! raw message is kept).

/// Splits `text` into what the writer wrote now and the quoted history
/// below it. Nothing is folded when the message is only a quote (a
/// forward) or has no recognisable history.
pub fn split(text: &str) -> (&str, &str) {
    let mut offset = 0;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if starts_history(line.trim(), &lines[i + 1..]) {
            let fresh = &text[..offset];
            if fresh.trim().is_empty() {
                return (text, "");
            }
            return (fresh.trim_end(), &text[offset..]);
        }
        offset += line.len();
    }
    (text, "")
}

fn starts_history(line: &str, next: &[&str]) -> bool {
    if line.starts_with('>') {
        return true;
    }
    // "On Tue, 3 Nov 2026 at 10:00, Li Lei <li@example.cn> wrote:" may be
    // wrapped over two lines by the writer's client.
    let wrote = |l: &str| {
        let l = l.trim_end();
        l.ends_with("wrote:") || l.ends_with("写道：") || l.ends_with("写道:")
    };
    if (line.starts_with("On ") || line.starts_with("在 ") || line.starts_with('在'))
        && (wrote(line) || next.first().is_some_and(|n| wrote(n)))
    {
        return true;
    }
    let bare = line.trim_matches(|c: char| c == '-' || c == ' ' || c == '_');
    let separator = line.len() > bare.len() + 4;
    if separator
        && matches!(
            bare,
            "Original Message" | "原始邮件" | "原始郵件" | "Original" | "回复的原邮件"
        )
    {
        return true;
    }
    // Outlook: a header block of the original ("From: … Sent: … Subject:")
    // possibly below a line of underscores.
    let header_start = ["From:", "发件人:", "发件人：", "寄件者:", "寄件者："];
    let header_next = [
        "Sent:",
        "Date:",
        "发送时间:",
        "发送时间：",
        "时间:",
        "时间：",
        "日期:",
        "日期：",
        "寄件日期:",
        "To:",
        "收件人:",
        "收件人：",
    ];
    if header_start.iter().any(|h| line.starts_with(h)) {
        return next
            .iter()
            .take(3)
            .any(|n| header_next.iter().any(|h| n.trim_start().starts_with(h)));
    }
    if separator && bare.is_empty() && line.starts_with("____") {
        return next
            .first()
            .is_some_and(|n| header_start.iter().any(|h| n.trim_start().starts_with(h)));
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn common_clients_histories_are_found() {
        let cases = [
            "Thanks, it works now.\n\nOn Tue, 3 Nov 2026 at 10:00, Kefu <support@kefu.example> wrote:\n> Please restart the router.\n",
            "好的，谢谢。\n\n在 2026年11月3日 10:00，客服 <support@kefu.example> 写道：\n> 请重启路由器。\n",
            "已经恢复了。\n\n------------------ 原始邮件 ------------------\n发件人: \"客服\"<support@kefu.example>;\n发送时间: 2026年11月3日(星期二) 上午10:00\n",
            "Still broken.\n\n-----Original Message-----\nFrom: Kefu\nSent: Tuesday\n",
            "See below.\n\n________________________________\nFrom: Kefu <support@kefu.example>\nSent: Tuesday, 3 November 2026 10:00\n",
            "收到。\n\n发件人: 客服 <support@kefu.example>\n发送时间: 2026年11月3日 10:00\n收件人: 李雷\n",
        ];
        for text in cases {
            let (fresh, quoted) = split(text);
            assert!(!quoted.is_empty(), "no history found in {text:?}");
            assert!(!fresh.is_empty());
            assert!(!fresh.contains("support@kefu.example"), "{fresh:?}");
            assert!(format!("{fresh}{quoted}").len() <= text.len());
        }
    }

    #[test]
    fn plain_messages_and_bare_quotes_are_left_whole() {
        let text = "From: the top floor, the light is broken.\nPlease send someone.\n";
        assert_eq!(split(text), (text, ""));
        let forward = "> only a quote\n> nothing else\n";
        assert_eq!(split(forward), (forward, ""));
    }
}
