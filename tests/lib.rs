//! Black-box test suites; see the files next to this one.
