//! PDF primitives.
