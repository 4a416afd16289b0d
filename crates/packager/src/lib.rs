//! packager
