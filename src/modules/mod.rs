//! modules (under construction).
