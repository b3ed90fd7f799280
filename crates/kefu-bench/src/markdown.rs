//! The Markdown a run leaves behind: the machine it ran on, and its table
//! written between a pair of markers in BENCHMARKS.md, so that a section
//! there is always what its command last produced.

use anyhow::{Context, Result, bail};
use std::path::Path;

/// One line naming the machine: CPU model, cores, memory, system.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown CPU", |(_, name)| name.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let system = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map_or("unknown system", |name| name.trim_matches('"'))
        .to_owned();
    format!("{cores} cores ({model}), {memory_gib:.0} GiB RAM, {system}")
}

/// The start and end markers of section `key`.
fn markers(key: &str) -> (String, String) {
    (
        format!("<!-- kefu-bench:{key} -->"),
        format!("<!-- /kefu-bench:{key} -->"),
    )
}

/// Replaces what stands between the markers of `key` in the file at `path`
/// with `text`; the file must hold both markers once, in order.
pub(crate) fn replace_section(path: &Path, key: &str, text: &str) -> Result<()> {
    let document =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let updated = replaced(&document, key, text).with_context(|| {
        format!(
            "{}: put the line {} and, below it, {} where this table belongs",
            path.display(),
            markers(key).0,
            markers(key).1
        )
    })?;
    std::fs::write(path, updated).with_context(|| format!("cannot write {}", path.display()))
}

/// `document` with the section `key` holding `text`.
fn replaced(document: &str, key: &str, text: &str) -> Result<String> {
    let (start, end) = markers(key);
    let (Some(from), Some(to)) = (document.find(&start), document.find(&end)) else {
        bail!("the markers of section {key} are missing");
    };
    if to < from || document.matches(&start).count() != 1 {
        bail!("the markers of section {key} are out of order or repeated");
    }
    Ok(format!(
        "{}{start}\n{}\n{}",
        &document[..from],
        text.trim_end(),
        &document[to..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_and_the_rest_kept() {
        let document = "# T\n\n<!-- kefu-bench:a -->\nold\n<!-- /kefu-bench:a -->\ntail\n";
        let out = replaced(document, "a", "new table\n").unwrap_or_default();
        assert_eq!(
            out,
            "# T\n\n<!-- kefu-bench:a -->\nnew table\n<!-- /kefu-bench:a -->\ntail\n"
        );
        // Running it again changes nothing.
        assert_eq!(replaced(&out, "a", "new table").unwrap_or_default(), out);
    }

    #[test]
    fn missing_or_misplaced_markers_are_refused() {
        assert!(replaced("no markers", "a", "x").is_err());
        let backwards = "<!-- /kefu-bench:a -->\n<!-- kefu-bench:a -->\n";
        assert!(replaced(backwards, "a", "x").is_err());
        let other = "<!-- kefu-bench:b -->\n<!-- /kefu-bench:b -->\n";
        assert!(replaced(other, "a", "x").is_err());
    }
}
