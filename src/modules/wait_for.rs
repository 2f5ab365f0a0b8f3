//! wait_for (placeholder while building).
