//! inventory (under construction).
