//! Restart strategies.

/// Which children a supervisor restarts when one of them fails.
///
/// The siblings to restart are stopped in reverse start order, then all are started again
/// in start order, as in OTP. (Named `RestartStrategy`, not `Strategy`, so that it never
/// clashes with a trading `Strategy` actor.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RestartStrategy {
    /// Only the failed child.
    #[default]
    OneForOne,
    /// Every child.
    OneForAll,
    /// The failed child and every child started after it.
    RestForOne,
}
