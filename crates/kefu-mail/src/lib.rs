//! Kefu's email, without I/O: reading messages as they really arrive
//! ([`parse()`]), cleaning their HTML for display ([`clean`]), the rules
//! that keep mail from looping and tell bounces apart ([`noise`]),
//! threading a message onto a work order ([`thread`]), folding quoted
//! history ([`quote`]).

pub mod clean;
pub mod noise;
pub mod parse;
pub mod quote;
pub mod thread;

pub use parse::{Attachment, Mail, Mailbox, ParseError, parse};
