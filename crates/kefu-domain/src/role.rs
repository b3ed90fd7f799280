//! Agent roles from the customer service handbook and what each may do.
//!
//! The permission matrix lives here, in one place, so that every route,
//! page and use case asks the same question: `role.allows(permission)`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The job an agent account holds on the service floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the installation: settings, accounts, integrations.
    Admin,
    /// 客服经理: sets standards, routes work, reads every report.
    Manager,
    /// 客服代表: first-line agent working the queue.
    Agent,
    /// 技术支持: second line, takes escalated faults.
    TechSupport,
    /// 质检员: reviews conversations against scorecards.
    QaInspector,
    /// 培训师: coaches agents and keeps training records.
    Trainer,
    /// Reads reports; changes nothing.
    Analyst,
}

impl Role {
    /// Every role, in the order the handbook lists them.
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Manager,
        Role::Agent,
        Role::TechSupport,
        Role::QaInspector,
        Role::Trainer,
        Role::Analyst,
    ];

    /// The stable code name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
            Role::TechSupport => "tech_support",
            Role::QaInspector => "qa_inspector",
            Role::Trainer => "trainer",
            Role::Analyst => "analyst",
        }
    }

    /// Whether this role grants `permission`; the one permission matrix.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match permission {
            ViewDirectory => true,
            ViewSettings => true,
            ManageTeams => matches!(self, Role::Admin | Role::Manager),
            ManageAgents | ManageSettings | ManageApiTokens | ManageIntegrations => {
                self == Role::Admin
            }
            ViewAuditLog => matches!(self, Role::Admin | Role::Manager),
            ViewCustomers => true,
            ManageCustomers | RevealPersonalData => matches!(
                self,
                Role::Admin | Role::Manager | Role::Agent | Role::TechSupport
            ),
            ViewPersonalData | ExportCustomers | MergeCustomers | ImportCustomers => {
                matches!(self, Role::Admin | Role::Manager)
            }
            ErasePersonalData => self == Role::Admin,
            ViewTickets => true,
            ManageMacros | ManageServiceStandards => matches!(self, Role::Admin | Role::Manager),
            ViewMetrics => matches!(self, Role::Admin | Role::Manager | Role::Analyst),
            ManageTickets => matches!(
                self,
                Role::Admin | Role::Manager | Role::Agent | Role::TechSupport
            ),
        }
    }

    /// The permissions this role grants, in declaration order.
    pub fn permissions(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.allows(*p))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the role code names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role {0:?}; valid roles: admin, manager, agent, tech_support, qa_inspector, trainer, analyst"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See the list of agents and teams (names, roles, membership).
    ViewDirectory,
    /// Read the company settings (name, time zone, language).
    ViewSettings,
    /// Create, rename and staff teams.
    ManageTeams,
    /// Create agent accounts and change roles.
    ManageAgents,
    /// Change the company settings.
    ManageSettings,
    /// Issue and revoke API tokens.
    ManageApiTokens,
    /// Read the audit log of any record.
    ViewAuditLog,
    /// See the customer archive: profiles, organizations, orders, with
    /// phone numbers and emails masked.
    ViewCustomers,
    /// Create and edit customers, organizations and their orders.
    ManageCustomers,
    /// Show one customer's masked contact details, recorded in the audit log.
    RevealPersonalData,
    /// See phone numbers and emails unmasked everywhere.
    ViewPersonalData,
    /// Export customer lists and everything about one customer (logged).
    ExportCustomers,
    /// Erase (anonymise) a customer's personal data on request.
    ErasePersonalData,
    /// Merge duplicate customers into one.
    MergeCustomers,
    /// Import customers from CSV and XLSX files.
    ImportCustomers,
    /// See work orders, their conversations and history, and the queues.
    ViewTickets,
    /// Open, edit, reply to and move work orders through their lifecycle.
    ManageTickets,
    /// Write the shared canned replies and macros.
    ManageMacros,
    /// Define the service standards: business calendars, SLA policies,
    /// routing and automation rules.
    ManageServiceStandards,
    /// Connect Kefu to other systems: outgoing webhooks and their signing
    /// secrets, later mailboxes.
    ManageIntegrations,
    /// Read the operational metrics (`/metrics`): counts and timings, no
    /// personal data. A Prometheus scraper uses an analyst-role API token.
    ViewMetrics,
}

impl Permission {
    /// Every permission, for exhaustive tests and the rendered matrix.
    pub const ALL: [Permission; 21] = [
        Permission::ViewDirectory,
        Permission::ViewSettings,
        Permission::ManageTeams,
        Permission::ManageAgents,
        Permission::ManageSettings,
        Permission::ManageApiTokens,
        Permission::ViewAuditLog,
        Permission::ViewCustomers,
        Permission::ManageCustomers,
        Permission::RevealPersonalData,
        Permission::ViewPersonalData,
        Permission::ExportCustomers,
        Permission::ErasePersonalData,
        Permission::MergeCustomers,
        Permission::ImportCustomers,
        Permission::ViewTickets,
        Permission::ManageTickets,
        Permission::ManageMacros,
        Permission::ManageServiceStandards,
        Permission::ManageIntegrations,
        Permission::ViewMetrics,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn only_admin_manages_accounts_and_tokens() {
        for role in Role::ALL {
            let admin = role == Role::Admin;
            assert_eq!(role.allows(Permission::ManageAgents), admin, "{role}");
            assert_eq!(role.allows(Permission::ManageApiTokens), admin, "{role}");
            assert_eq!(role.allows(Permission::ManageSettings), admin, "{role}");
        }
    }

    #[test]
    fn analyst_changes_nothing() {
        let changes = [
            Permission::ManageTeams,
            Permission::ManageAgents,
            Permission::ManageSettings,
            Permission::ManageApiTokens,
            Permission::ManageCustomers,
            Permission::ErasePersonalData,
            Permission::ManageTickets,
        ];
        for p in changes {
            assert!(!Role::Analyst.allows(p), "{p:?}");
        }
    }

    #[test]
    fn personal_data_is_unmasked_only_for_admins_and_managers() {
        for role in Role::ALL {
            let unmasked = matches!(role, Role::Admin | Role::Manager);
            assert_eq!(
                role.allows(Permission::ViewPersonalData),
                unmasked,
                "{role}"
            );
            assert!(role.allows(Permission::ViewCustomers), "{role}");
            if role.allows(Permission::ManageCustomers) {
                assert!(role.allows(Permission::RevealPersonalData), "{role}");
            }
        }
        assert!(!Role::QaInspector.allows(Permission::RevealPersonalData));
        assert!(!Role::Agent.allows(Permission::ExportCustomers));
    }

    #[test]
    fn every_role_sees_the_directory() {
        for role in Role::ALL {
            assert!(role.allows(Permission::ViewDirectory));
            assert!(role.permissions().count() >= 2);
        }
    }
}
