//! Auto-shutdown: a supervisor that ends when its significant children are done.

/// When a supervisor ends by itself because its *significant* children
/// ([`ChildSpec::significant`](crate::ChildSpec::significant)) are done, as OTP's
/// `auto_shutdown`. Only exits a child causes itself count (it stopped, or failed and is not
/// restarted); a child stopped by the supervisor or by `stop_child` does not. The supervisor
/// then stops its other children in reverse start order and ends normally
/// (`StopReason::Normal`), which its own parent treats like any normal exit: make it
/// `Transient` there so it is not restarted. A pool's children cannot be significant, so a
/// pool refuses any mode but `Never` ([`SpecError::PoolAutoShutdown`]).
///
/// [`SpecError::PoolAutoShutdown`]: crate::SpecError::PoolAutoShutdown
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AutoShutdown {
    /// Never (the default). Significant children are then refused.
    #[default]
    Never,
    /// As soon as any significant child is done.
    AnySignificant,
    /// Once every significant child is done.
    AllSignificant,
}
