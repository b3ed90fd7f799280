//! Any bytes as a received email: parsing never panics, and what the
//! ingest does next with a parsed message (folding quoted history,
//! cleaning the HTML, finding the ticket tag) never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mail) = kefu_mail::parse(data) {
        let (answer, quoted) = kefu_mail::quote::split(&mail.text);
        assert!(answer.len() + quoted.len() <= mail.text.len());
        if let Some(html) = &mail.html {
            let _ = kefu_mail::clean::html(html);
        }
        let _ = kefu_mail::thread::ticket_tag(&mail.subject);
        for attachment in &mail.attachments {
            let _ = kefu_mail::parse::safe_file_name(&attachment.file_name);
        }
    }
});
