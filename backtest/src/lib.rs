//! Placeholder: parallel backtests and sweeps.
