//! executor (under construction).
