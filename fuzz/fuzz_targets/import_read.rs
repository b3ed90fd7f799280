//! Any bytes as an uploaded import file: reading it as CSV or XLSX
//! (chosen by its first bytes, as the import does) gives a table or a
//! clear error, never a panic; every row of a table is as wide as its
//! header.
#![no_main]

use kefu_app::import::{FileFormat, read_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(table) = FileFormat::sniff(data).read(data) {
        for row in &table.rows {
            assert!(row.len() >= table.headers.len());
        }
    }
    let _ = read_csv(data);
});
