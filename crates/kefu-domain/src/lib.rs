//! The rules of the customer service job, as pure functions on plain data.
//!
//! This crate owns roles and permissions, validation of business input,
//! customer-facing public numbers, and the shape of audit records. It must
//! not do I/O, be async, or know about SQL or HTTP types: everything here is
//! tested without a database or a runtime.

#[macro_use]
mod macros;

pub mod alarm;
pub mod attachment;
pub mod audit;
pub mod automation;
pub mod calendar;
pub mod custom_field;
pub mod customer;
pub mod email;
pub mod error;
pub mod name;
pub mod presence;
pub mod public_id;
pub mod role;
pub mod routing;
pub mod signin;
pub mod sla;
pub mod team;
pub mod ticket;
pub mod totp;
pub mod validate;
pub mod web_form;
pub mod webhook;

pub use error::DomainError;
pub use role::{Permission, Role};

/// Lower-case hexadecimal of some bytes (digests, tokens).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}
