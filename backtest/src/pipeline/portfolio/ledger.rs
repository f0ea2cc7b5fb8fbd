//! The account stepped bar by bar by whoever decides: a strategy that wants to see its
//! position, cash and equity at each bar, as backtesting.py's `Strategy.next` does, keeps a
//! [`Ledger`] beside the pipeline's [`Portfolio`](super::Portfolio). Both book the same
//! executions with the same code ([`Account`]), so what the strategy sees at a bar is what
//! the portfolio books there.

use std::sync::Arc;

use super::marking::Stop;
use super::{Account, Pending};
use crate::metrics::PeriodCurve;
use crate::pipeline::{execute, Config, Execution, Order, OrderError};
use crate::{Series, Trace};

/// The account after a bar's close.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AccountView {
    /// Units held, signed (> 0 long, < 0 short, 0 flat).
    pub position: i64,
    /// The open position's entry price (`None` when flat).
    pub entry_price: Option<f64>,
    /// Cash: the starting cash less every commission, plus every closed round trip's
    /// profit (a position's value is not taken out of it: leverage 1, as backtesting.py's
    /// broker counts).
    pub cash: f64,
    /// Cash plus the open position's profit at the close.
    pub equity: f64,
    /// Trading has stopped (bankruptcy or the risk limit): further orders are ignored.
    pub stopped: bool,
}

/// The account of a run, stepped one bar at a time, taking orders as they are decided.
///
/// ```
/// use std::sync::Arc;
/// use mycelium_backtest::pipeline::{Config, Ledger, Order};
/// use mycelium_backtest::Series;
///
/// let series = Arc::new(Series::new(vec![1, 2, 3], vec![100.0, 110.0, 99.0]).unwrap());
/// let mut ledger = Ledger::new(series, Config::default());
/// let first = ledger.step().unwrap();
/// assert_eq!((first.position, first.equity), (0, 10_000.0));
/// ledger.submit(&Order::market(0, 1)).unwrap(); // long after bar 0: fills at bar 1
/// let second = ledger.step().unwrap();
/// assert_eq!(second.position, 90); // floor(10_000 / 110)
/// ```
pub struct Ledger {
    series: Arc<Series>,
    config: Config,
    account: Account,
    pending: Pending,
    next: usize,
}

impl Ledger {
    /// A flat account at the start of `series`, with `config`'s cash, sizing, commissions,
    /// fill rule and risk limit.
    pub fn new(series: Arc<Series>, config: Config) -> Ledger {
        let curve = PeriodCurve::with_offset(series.annualisation().period, series.utc_offset_ns());
        let account = Account::new(&config, curve, Trace::new());
        Ledger {
            series,
            config,
            account,
            pending: Pending::default(),
            next: 0,
        }
    }

    /// The bar the next [`Ledger::step`] books and marks.
    pub fn next_bar(&self) -> usize {
        self.next
    }

    /// Books the executions due at the next bar, marks it at its close (bankruptcy and the
    /// risk limit checked as the portfolio checks them) and returns the account then;
    /// `None` past the last bar.
    pub fn step(&mut self) -> Option<AccountView> {
        let series = self.series.clone();
        let j = self.next;
        if j >= series.len() {
            return None;
        }
        while let Some(x) = self.pending.due(j) {
            if let Some(exit) = self.account.book(x, &series) {
                self.pending.add(exit);
            }
        }
        let every = self.config.mark_every.max(1);
        let close = series.prices()[j];
        if every == 1 || (j + 1) % every == 0 || j + 1 == series.len() {
            match self
                .account
                .mark(j, series.timestamps()[j], close, self.config.risk_limit)
            {
                Stop::No => {}
                Stop::Bankrupt => self.pending.clear(),
                Stop::Halted => {
                    self.pending.clear();
                    if self.account.position != 0 {
                        if let Some((price, bar, book_at)) = self.config.fill.execution(&series, j)
                        {
                            self.pending
                                .add(Execution::market(j, price, bar, book_at, 0));
                        }
                    }
                }
            }
        }
        self.next = j + 1;
        Some(self.view(close))
    }

    /// Places `order` (decided after the close of the bar last stepped): checked, priced
    /// as the exchange prices it, and booked when its bar comes. Ignored once trading has
    /// stopped, as the portfolio ignores it.
    pub fn submit(&mut self, order: &Order) -> Result<(), OrderError> {
        order.validate()?;
        if self.account.stopped() {
            return Ok(());
        }
        if let Some(x) = execute(&self.series, self.config.fill, order) {
            self.pending.add(x);
        }
        Ok(())
    }

    fn view(&self, close: f64) -> AccountView {
        let a = &self.account;
        let equity = match (a.bankrupt_at, a.open) {
            (Some(_), _) => 0.0,
            (None, Some(o)) => a.cash + (close * a.position as f64 - a.position as f64 * o.price),
            (None, None) => a.cash,
        };
        AccountView {
            position: a.position,
            entry_price: a.open.map(|o| o.price),
            cash: a.cash,
            equity,
            stopped: a.stopped(),
        }
    }
}
