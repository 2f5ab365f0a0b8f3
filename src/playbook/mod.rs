//! playbook (under construction).
