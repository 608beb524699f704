//! The `peti` container runtime, as a library.
