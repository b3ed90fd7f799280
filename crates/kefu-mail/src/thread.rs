//! Which work order a message belongs to: by the ids it answers
//! (`In-Reply-To`, `References`), else by the ticket tag in its subject
//! (`[#1024]`). Also the ids and subjects Kefu puts on what it sends, so
//! that customers' clients thread them and their answers come back.

/// The ticket number in a subject's tag: `Re: 宽带断线 [#1024]` → 1024.
/// Full-width brackets and number signs count too.
pub fn ticket_tag(subject: &str) -> Option<i64> {
    let normalized: String = subject
        .chars()
        .map(|c| match c {
            '［' => '[',
            '］' => ']',
            '＃' => '#',
            c => c,
        })
        .collect();
    let mut rest = normalized.as_str();
    while let Some(at) = rest.find("[#") {
        let after = &rest[at + 2..];
        if let Some(end) = after.find(']') {
            let digits = after[..end].trim();
            if !digits.is_empty()
                && digits.len() <= 18
                && digits.bytes().all(|b| b.is_ascii_digit())
                && let Ok(n) = digits.parse::<i64>()
                && n > 0
            {
                return Some(n);
            }
        }
        rest = after;
    }
    None
}

/// The subject of Kefu's message about ticket `number`: the ticket's
/// subject with one `Re: ` and the tag, whatever the customer's client
/// added before.
pub fn reply_subject(subject: &str, number: i64) -> String {
    let mut s = subject.trim();
    loop {
        let lower = s.to_lowercase();
        let prefix = [
            "re:",
            "re：",
            "aw:",
            "回复:",
            "回复：",
            "答复:",
            "答复：",
            "fw:",
            "fwd:",
            "转发:",
            "转发：",
        ]
        .iter()
        .find(|p| lower.starts_with(*p));
        match prefix {
            Some(p) => s = s[p.len()..].trim_start(),
            None => break,
        }
    }
    let tag = format!("[#{number}]");
    let base = s.replace(&tag, "");
    let base = base.trim();
    format!("Re: {base} {tag}")
}

/// The `Message-ID` (without angle brackets) of Kefu's message `message`
/// on ticket `ticket`, at `domain`; `nonce` keeps ids unique across
/// installations that share a domain.
pub fn message_id(ticket: i64, message: i64, nonce: &str, domain: &str) -> String {
    format!("kefu.{ticket}.{message}.{nonce}@{domain}")
}

/// The ticket named in one of Kefu's own message ids at `domain`.
pub fn ticket_of_message_id(id: &str, domain: &str) -> Option<i64> {
    let (local, host) = id.rsplit_once('@')?;
    if !host.eq_ignore_ascii_case(domain) {
        return None;
    }
    let mut parts = local.split('.');
    if parts.next()? != "kefu" {
        return None;
    }
    parts.next()?.parse().ok().filter(|n: &i64| *n > 0)
}

/// The `References` of a reply: the thread so far, then the message
/// answered; the newest 20 are kept, as clients do.
pub fn references(thread: &[String], answered: Option<&str>) -> Vec<String> {
    let mut all: Vec<String> = thread.to_vec();
    if let Some(a) = answered
        && !all.iter().any(|r| r == a)
    {
        all.push(a.to_owned());
    }
    let skip = all.len().saturating_sub(20);
    all.into_iter().skip(skip).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_are_found() {
        assert_eq!(ticket_tag("Re: 宽带断线 [#1024]"), Some(1024));
        assert_eq!(ticket_tag("回复：［＃77］网速慢"), Some(77));
        assert_eq!(ticket_tag("[#abc] [#12]"), Some(12));
        assert_eq!(ticket_tag("[#0] or [#] or #12"), None);
        assert_eq!(ticket_tag("[#99999999999999999999]"), None);
    }

    #[test]
    fn reply_subjects_carry_one_tag() {
        assert_eq!(
            reply_subject("Re: RE: 宽带断线 [#5]", 5),
            "Re: 宽带断线 [#5]"
        );
        assert_eq!(reply_subject("回复：网速慢", 6), "Re: 网速慢 [#6]");
    }

    #[test]
    fn own_ids_name_their_ticket() {
        let id = message_id(42, 7, "a1b2", "kefu.example");
        assert_eq!(ticket_of_message_id(&id, "kefu.example"), Some(42));
        assert_eq!(ticket_of_message_id(&id, "other.example"), None);
        assert_eq!(
            ticket_of_message_id("abc@kefu.example", "kefu.example"),
            None
        );
    }

    proptest! {
        #[test]
        fn a_reply_subject_reads_back_its_ticket(subject in "[^\\[［]{0,60}", n in 1i64..1_000_000_000) {
            let once = reply_subject(&subject, n);
            prop_assert_eq!(ticket_tag(&once), Some(n));
            // Answering an answer does not grow the subject.
            prop_assert_eq!(reply_subject(&once, n), once);
        }
    }
}
