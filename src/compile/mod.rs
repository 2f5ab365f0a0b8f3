//! compile (under construction).
