//! A Python strategy in the reference backtest pipeline: a Rust actor in the crossover's
//! place that hands every tick batch to a Python object and publishes the orders it gives.
//!
//! A strategy that defines `on_ticks` gets each batch's closes and timestamps and returns
//! target directions. One that defines `on_bar` is called at every bar with the bar and the
//! account after its close, stepped here by a [`Ledger`] (the portfolio's own bookkeeping,
//! so what the strategy sees is what the portfolio books), and places orders with a size,
//! stop and limit prices, stop loss and take profit through `buy`, `sell` and `close`.

use std::panic::resume_unwind;
use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Context, Handler, Published, Publisher, SubscribeOptions};
use mycelium_backtest::pipeline::{
    self, topics, Config, Halt, Ledger, Order, OrderBatch, Sizing, TickBatch,
};
use mycelium_backtest::Sweep;
use mycelium_supervisor::ChildSpec;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString};

use crate::callbacks::{self, Exiting, EXITING};
use crate::host::exception_text;
use crate::sweep::{put_details, put_result, series, Settings};

/// The Python class and its arguments (the same at every restart of the pipeline).
#[derive(Clone)]
pub(crate) struct PyStrategyArgs {
    class: Arc<Py<PyAny>>,
    args: Arc<Py<PyAny>>,
    config: Config,
}

impl PyStrategyArgs {
    /// The class and the args of one grid point, run with `config` (the account a
    /// per-bar strategy sees is kept with it).
    pub(crate) fn new(class: Arc<Py<PyAny>>, args: Arc<Py<PyAny>>, config: Config) -> Self {
        PyStrategyArgs {
            class,
            args,
            config,
        }
    }
}

/// What a per-bar strategy needs beside its instance: the `Bar` and `Account` classes it is
/// given, and the account, stepped bar by bar.
struct PerBar {
    bar: Arc<Py<PyAny>>,
    account: Arc<Py<PyAny>>,
    config: Config,
    ledger: Option<Ledger>,
}

/// Hosts one Python strategy object (`mycelium.backtest.Strategy`) for one incarnation.
pub(crate) struct PyStrategy {
    instance: Arc<Py<PyAny>>,
    orders: Publisher<OrderBatch>,
    halted: bool,
    per_bar: Option<PerBar>,
    /// The `Bars` class, when `on_ticks` takes a `bars` argument.
    bars: Option<Arc<Py<PyAny>>>,
}

/// Runs `f` with the GIL on the runtime's blocking pool; an exception is its text.
async fn in_python<T: Send + 'static>(
    f: impl FnOnce(Python<'_>) -> PyResult<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(move || {
        callbacks::attach(|py| f(py).map_err(|e| exception_text(py, &e)))
            .unwrap_or_else(|Exiting| Err(EXITING.to_string()))
    })
    .await
    {
        Ok(r) => r,
        Err(e) => Err(format!("the Python callback thread was lost: {e}")),
    }
}

impl Actor for PyStrategy {
    type Args = PyStrategyArgs;

    async fn on_start(a: PyStrategyArgs, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        ctx.subscribe::<TickBatch>(topics::TICKS, SubscribeOptions::new())?;
        ctx.subscribe::<Halt>(topics::HALT, SubscribeOptions::new())?;
        let orders = ctx.bus().publisher::<OrderBatch>(topics::ORDERS)?;
        let config = a.config.clone();
        let (instance, classes, bars) = in_python(move |py| {
            let per_bar: bool = a.class.call_method0(py, "_per_bar")?.extract(py)?;
            let with_bars: bool = a.class.call_method0(py, "_ticks_with_bars")?.extract(py)?;
            let module = py.import("mycelium.backtest")?;
            let classes = if per_bar {
                Some((
                    module.getattr("Bar")?.unbind(),
                    module.getattr("Account")?.unbind(),
                ))
            } else {
                None
            };
            let bars = if with_bars && !per_bar {
                Some(Arc::new(module.getattr("Bars")?.unbind()))
            } else {
                None
            };
            let instance = a.class.call0(py)?;
            instance.call_method1(py, "on_start", (a.args.clone_ref(py),))?;
            Ok((instance, classes, bars))
        })
        .await?;
        Ok(PyStrategy {
            instance: Arc::new(instance),
            orders,
            halted: false,
            per_bar: classes.map(|(bar, account)| PerBar {
                bar: Arc::new(bar),
                account: Arc::new(account),
                config,
                ledger: None,
            }),
            bars,
        })
    }

    fn type_name() -> &'static str {
        "PyStrategy"
    }
}

impl Handler<Published<TickBatch>> for PyStrategy {
    type Reply = ();

    async fn handle(&mut self, b: Published<TickBatch>, ctx: &mut Context<Self>) {
        if b.epoch != ctx.incarnation() {
            return;
        }
        let mut orders = Vec::new();
        if let Some(per_bar) = &mut self.per_bar {
            let ledger = per_bar
                .ledger
                .take()
                .unwrap_or_else(|| Ledger::new(b.series.clone(), per_bar.config.clone()));
            let (instance, bar, account) = (
                self.instance.clone(),
                per_bar.bar.clone(),
                per_bar.account.clone(),
            );
            let batch = b.clone();
            let asked = in_python(move |py| {
                let mut ledger = ledger;
                let orders = bars(py, &batch, &mut ledger, &instance, &bar, &account)?;
                Ok((ledger, orders))
            })
            .await;
            match asked {
                Ok((ledger, o)) => {
                    per_bar.ledger = Some(ledger);
                    orders = o;
                }
                Err(e) => resume_unwind(Box::new(e)),
            }
        } else if !self.halted {
            let instance = self.instance.clone();
            let batch = b.clone();
            let bars = self.bars.clone();
            let asked = in_python(move |py| {
                let range = batch.range.clone();
                let series = &batch.series;
                let prices = &series.prices()[range.clone()];
                let stamps = &series.timestamps()[range.clone()];
                let args = (range.start, prices.to_vec(), stamps.to_vec());
                let out = match bars {
                    None => instance.call_method1(py, "on_ticks", args)?,
                    Some(class) => {
                        let columns = class.call1(
                            py,
                            (
                                series.opens()[range.clone()].to_vec(),
                                range.clone().map(|i| series.high(i)).collect::<Vec<f64>>(),
                                range.clone().map(|i| series.low(i)).collect::<Vec<f64>>(),
                                prices.to_vec(),
                                series.volumes().map(|v| v[range.clone()].to_vec()),
                            ),
                        )?;
                        let kwargs = PyDict::new(py);
                        kwargs.set_item("bars", columns)?;
                        instance.call_method(py, "on_ticks", args, Some(&kwargs))?
                    }
                };
                let mut orders: Vec<Order> = Vec::new();
                if !out.is_none(py) {
                    for item in out.bind(py).try_iter()? {
                        let (tick, target): (usize, i64) = item?.extract()?;
                        if !range.contains(&tick) {
                            return Err(PyValueError::new_err(format!(
                                "on_ticks returned an order at tick {tick}, outside this batch ({}..{})",
                                range.start, range.end
                            )));
                        }
                        if !(-1..=1).contains(&target) {
                            return Err(PyValueError::new_err(format!(
                                "on_ticks returned target {target} at tick {tick}: a target is a \
                                 direction, 1 (long), -1 (short) or 0 (flat); the account sizes it"
                            )));
                        }
                        if orders.last().is_some_and(|o| o.tick >= tick) {
                            return Err(PyValueError::new_err(format!(
                                "on_ticks returned tick {tick} after an order at tick {}: give \
                                 one order per tick at most, in tick order",
                                orders.last().map_or(0, |o| o.tick)
                            )));
                        }
                        orders.push(Order::market(tick, target));
                    }
                }
                Ok(orders)
            })
            .await;
            match asked {
                Ok(o) => orders = o,
                // A Python exception is a failure of the actor, like a panic: the pipeline's
                // supervisor restarts it.
                Err(e) => resume_unwind(Box::new(e)),
            }
        }
        self.orders
            .publish(OrderBatch {
                epoch: b.epoch,
                range: b.range.clone(),
                orders,
                last: b.last,
            })
            .await;
    }
}

impl Handler<Published<Halt>> for PyStrategy {
    type Reply = ();

    async fn handle(&mut self, h: Published<Halt>, ctx: &mut Context<Self>) {
        if h.epoch == ctx.incarnation() {
            self.halted = true;
        }
    }
}

/// Calls `on_bar` for every bar of `batch` with the bar and the account after its close
/// (stepped by `ledger`), and returns the orders it placed. Once trading has stopped the
/// strategy is no longer called.
fn bars(
    py: Python<'_>,
    batch: &TickBatch,
    ledger: &mut Ledger,
    instance: &Py<PyAny>,
    bar_class: &Py<PyAny>,
    account_class: &Py<PyAny>,
) -> PyResult<Vec<Order>> {
    let series = &batch.series;
    let (ts, opens, closes) = (series.timestamps(), series.opens(), series.prices());
    let volumes = series.volumes();
    let mut orders = Vec::new();
    for j in batch.range.clone() {
        if ledger.next_bar() != j {
            return Err(PyValueError::new_err(format!(
                "the account is at bar {}, the batch at bar {j}: batches must come in order",
                ledger.next_bar()
            )));
        }
        let Some(view) = ledger.step() else {
            break;
        };
        if view.stopped {
            continue;
        }
        let bar = bar_class.call1(
            py,
            (
                j,
                ts[j],
                opens[j],
                series.high(j),
                series.low(j),
                closes[j],
                volumes.map(|v| v[j]),
            ),
        )?;
        let account = account_class.call1(
            py,
            (view.position, view.entry_price, view.cash, view.equity),
        )?;
        let placed = instance.call_method1(py, "_next", (bar, account))?;
        if placed.is_none(py) {
            continue;
        }
        let order = order_at(j, placed.bind(py))?;
        ledger
            .submit(&order)
            .map_err(|e| PyValueError::new_err(format!("the order at bar {j}: {e}")))?;
        orders.push(order);
    }
    Ok(orders)
}

/// `(target, size, limit, stop, sl, tp)`, as `Strategy._next` returns an order.
type Placed<'py> = (
    i64,
    Option<Bound<'py, PyAny>>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

/// The order `(target, size, limit, stop, sl, tp)` that `Strategy._next` returned for bar
/// `tick`; a size is a whole number of units (an int) or a fraction of the cash (a float).
fn order_at(tick: usize, placed: &Bound<'_, PyAny>) -> PyResult<Order> {
    let (target, size, limit, stop, sl, tp): Placed<'_> = placed.extract().map_err(|_| {
        PyValueError::new_err(format!(
            "the order at bar {tick} is not one Strategy.buy, sell or close places"
        ))
    })?;
    let size = match size {
        None => None,
        Some(s) if s.is_instance_of::<PyInt>() => {
            let units: u64 = s.extract().map_err(|_| {
                PyValueError::new_err(format!("size {s}: give a whole number of units >= 1"))
            })?;
            Some(Sizing::Units(units))
        }
        Some(s) => Some(Sizing::Equity(s.extract()?)),
    };
    Ok(Order {
        tick,
        target,
        size,
        limit,
        stop,
        sl,
        tp,
    })
}

/// The bars grid point `index` (whose args are `args`) needs before its first decision: the
/// strategy class's `warmup(args)`. An exception it raises comes back as raised (its type
/// kept) with a note naming the call and the point, so that a sweep stopped by it says where.
pub(crate) fn warmup(
    py: Python<'_>,
    strategy: &Py<PyAny>,
    args: &Py<PyAny>,
    index: usize,
) -> PyResult<usize> {
    let shown = || {
        args.bind(py)
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "<args whose repr raised>".to_string())
    };
    let bars = strategy
        .call_method1(py, "warmup", (args.clone_ref(py),))
        .inspect_err(|e| {
            // An exception that takes no note (add_note replaced or refused) still goes
            // back as raised, only without the note.
            let _ = e.add_note(
                py,
                format!("while computing warmup({}) for grid point {index}", shown()),
            );
        })?;
    bars.extract(py).map_err(|_| {
        PyValueError::new_err(format!(
            "warmup({}) for grid point {index} must return a whole number of bars >= 0",
            shown()
        ))
    })
}

/// Runs the reference pipeline with a Python strategy class, once per element of `grid`
/// (each the `args` of `on_start`, and of the class's `warmup`), one virtual-time bus per
/// point on `workers` threads. Rows have the columns of the backtest's `results.csv`.
#[pyfunction]
#[pyo3(signature = (
    strategy, grid, ticks=100_000, seed=42, workers=None, data=None, batch=4096,
    mark_every=1, cash=10_000.0, size=None, commission_bps=0.0, commission_per_trade=0.0,
    fill="next-open", risk_limit=None, details=false,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_strategy<'py>(
    py: Python<'py>,
    strategy: Py<PyAny>,
    grid: Vec<Py<PyAny>>,
    ticks: usize,
    seed: u64,
    workers: Option<usize>,
    data: Option<String>,
    batch: usize,
    mark_every: usize,
    cash: f64,
    size: Option<Bound<'py, PyAny>>,
    commission_bps: f64,
    commission_per_trade: f64,
    fill: &str,
    risk_limit: Option<f64>,
    details: bool,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    if grid.is_empty() {
        return Err(PyValueError::new_err(
            "the grid is empty: give at least one set of args",
        ));
    }
    let all = PyString::new(py, "all").into_any();
    let mut config = Settings {
        batch,
        mark_every,
        cash,
        size: size.as_ref().unwrap_or(&all),
        commission_bps,
        commission_per_trade,
        fill,
        risk_limit,
    }
    .config()?;
    config.keep_fills = details;
    let series = series(py, data, ticks, seed)?;
    // The bars each point needs before its first decision: Buy & Hold is measured from there.
    let mut warmups = Vec::with_capacity(grid.len());
    for (i, args) in grid.iter().enumerate() {
        warmups.push(warmup(py, &strategy, args, i)?);
    }
    let too_long = warmups.iter().filter(|&&w| w >= series.len()).count();
    if too_long > 0 {
        crate::sweep::warn(
            py,
            &format!(
                "{too_long} grid point(s) have a warmup of {} bars or more, as long as the data: they cannot trade",
                series.len()
            ),
        )?;
    }
    let class = Arc::new(strategy);
    let points: Vec<usize> = (0..grid.len()).collect();
    let grid: Arc<Vec<Arc<Py<PyAny>>>> = Arc::new(grid.into_iter().map(Arc::new).collect());
    let mut sweep = Sweep::new(points).seed(seed);
    if let Some(w) = workers {
        sweep = sweep.workers(w.max(1));
    }
    let report = py.detach(|| {
        sweep.run(|i: &usize, run| {
            let spec = ChildSpec::new::<PyStrategy>(
                pipeline::STRATEGY_CHILD,
                PyStrategyArgs::new(class.clone(), grid[*i].clone(), config.clone()),
            );
            let (series, config, warmup) = (series.clone(), config.clone(), warmups[*i]);
            async move { pipeline::run_with(&run.bus, series, spec, warmup, config).await }
        })
    });
    let mut rows = Vec::with_capacity(report.runs.len());
    for run in &report.runs {
        let row = PyDict::new(py);
        row.set_item("index", run.index)?;
        row.set_item("args", grid[run.index].clone_ref(py))?;
        row.set_item("seed", run.seed)?;
        put_result(py, &row, &run.result)?;
        if details {
            put_details(py, &row, &run.result, &series)?;
        }
        rows.push(row);
    }
    Ok(rows)
}
