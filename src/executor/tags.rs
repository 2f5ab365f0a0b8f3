//! Tag selection (`--tags`, `--skip-tags`) with Ansible's special tags: `always`, `never`,
//! `tagged`, `untagged` and `all`.

/// The tags chosen on the command line.
#[derive(Clone, Debug, Default)]
pub struct TagFilter {
    /// `--tags` (empty means all).
    pub only: Vec<String>,
    /// `--skip-tags`.
    pub skip: Vec<String>,
}

impl TagFilter {
    /// Whether a task carrying `tags` (its own plus inherited) runs.
    pub fn selects(&self, tags: &[String]) -> bool {
        let has = |t: &str| tags.iter().any(|x| x == t);
        let listed = |list: &[String], t: &str| list.iter().any(|x| x == t);
        // --skip-tags first: it always wins.
        if tags.iter().any(|t| listed(&self.skip, t))
            || (listed(&self.skip, "tagged") && !tags.is_empty())
            || (listed(&self.skip, "untagged") && tags.is_empty())
        {
            return false;
        }
        if has("always") && !listed(&self.skip, "always") {
            return true;
        }
        if self.only.is_empty() || listed(&self.only, "all") {
            return !has("never") || tags.iter().any(|t| listed(&self.only, t) && t != "all");
        }
        tags.iter().any(|t| listed(&self.only, t))
            || (listed(&self.only, "tagged") && !tags.is_empty() && !has("never"))
            || (listed(&self.only, "untagged") && tags.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(only: &[&str], skip: &[&str]) -> TagFilter {
        TagFilter {
            only: only.iter().map(|s| s.to_string()).collect(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
        }
    }
    fn t(tags: &[&str]) -> Vec<String> {
        tags.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ansible_tag_rules() {
        assert!(f(&[], &[]).selects(&t(&[])));
        assert!(f(&[], &[]).selects(&t(&["web"])));
        assert!(!f(&[], &[]).selects(&t(&["never"])));
        assert!(f(&["debug"], &[]).selects(&t(&["never", "debug"])));
        assert!(f(&["web"], &[]).selects(&t(&["web", "x"])));
        assert!(!f(&["web"], &[]).selects(&t(&["db"])));
        assert!(!f(&["web"], &[]).selects(&t(&[])));
        assert!(f(&["web"], &[]).selects(&t(&["always"])));
        assert!(!f(&["web"], &["always"]).selects(&t(&["always"])));
        assert!(!f(&[], &["web"]).selects(&t(&["web"])));
        assert!(f(&["tagged"], &[]).selects(&t(&["a"])));
        assert!(!f(&["tagged"], &[]).selects(&t(&[])));
        assert!(f(&["untagged"], &[]).selects(&t(&[])));
        assert!(!f(&[], &["untagged"]).selects(&t(&[])));
    }
}
