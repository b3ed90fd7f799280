//! Declarative helpers shared by the domain modules.

/// Declares a closed set of code names with parsing, display and an error
/// that lists the valid codes.
macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code name used in the API and the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }

            /// Parses a code name; the error names `field` and lists the valid codes.
            pub fn parse_field(field: &str, text: &str) -> Result<Self, DomainError> {
                text.trim().parse().map_err(|_| {
                    DomainError::invalid(
                        field,
                        format!(
                            "unknown {} {:?}; valid: {}",
                            $what,
                            text,
                            [$($code),+].join(", ")
                        ),
                    )
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s {
                    $($code => Ok($name::$variant),)+
                    _ => Err(()),
                }
            }
        }
    };
}
