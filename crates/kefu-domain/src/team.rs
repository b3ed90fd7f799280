//! Rules about teams.

/// The member list a team is saved with: the requested members plus the
/// lead (a lead always belongs to the team), ascending, without repeats.
pub fn members_with_lead(requested: &[i64], lead: Option<i64>) -> Vec<i64> {
    let mut members: Vec<i64> = requested.iter().copied().chain(lead).collect();
    members.sort_unstable();
    members.dedup();
    members
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lead_joins_the_team() {
        assert_eq!(members_with_lead(&[3, 1], Some(2)), vec![1, 2, 3]);
        assert_eq!(members_with_lead(&[3, 3, 1], None), vec![1, 3]);
        assert_eq!(members_with_lead(&[], Some(5)), vec![5]);
    }

    proptest! {
        #[test]
        fn result_is_sorted_unique_and_complete(requested in proptest::collection::vec(0i64..50, 0..20), lead in proptest::option::of(0i64..50)) {
            let members = members_with_lead(&requested, lead);
            prop_assert!(members.windows(2).all(|w| w[0] < w[1]));
            for id in requested.iter().chain(lead.iter()) {
                prop_assert!(members.contains(id));
            }
            prop_assert!(members.iter().all(|m| requested.contains(m) || lead == Some(*m)));
        }
    }
}
