//! A Python strategy in the reference backtest pipeline: a Rust actor in the crossover's
//! place that hands every tick batch to a Python object and publishes the orders it returns.

use std::panic::resume_unwind;
use std::sync::Arc;

use mycelium_actors::{Actor, BoxError, Context, Handler, Published, Publisher, SubscribeOptions};
use mycelium_backtest::pipeline::{self, topics, Config, Halt, Order, OrderBatch, TickBatch};
use mycelium_backtest::{load_csv, Series, Sweep};
use mycelium_supervisor::ChildSpec;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::host::exception_text;

/// The Python class and its arguments (the same at every restart of the pipeline).
#[derive(Clone)]
pub(crate) struct PyStrategyArgs {
    class: Arc<Py<PyAny>>,
    args: Arc<Py<PyAny>>,
}

/// Hosts one Python strategy object (`mycelium.backtest.Strategy`) for one incarnation.
pub(crate) struct PyStrategy {
    instance: Arc<Py<PyAny>>,
    orders: Publisher<OrderBatch>,
    halted: bool,
}

/// Runs `f` with the GIL on the runtime's blocking pool; an exception is its text.
async fn in_python<T: Send + 'static>(
    f: impl FnOnce(Python<'_>) -> PyResult<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(move || {
        Python::attach(|py| f(py).map_err(|e| exception_text(py, &e)))
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
        let instance = in_python(move |py| {
            let instance = a.class.call0(py)?;
            instance.call_method1(py, "on_start", (a.args.clone_ref(py),))?;
            Ok(instance)
        })
        .await?;
        Ok(PyStrategy {
            instance: Arc::new(instance),
            orders,
            halted: false,
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
        if !self.halted {
            let instance = self.instance.clone();
            let batch = b.clone();
            let asked = in_python(move |py| {
                let range = batch.range.clone();
                let prices = &batch.series.prices()[range.clone()];
                let stamps = &batch.series.timestamps()[range.clone()];
                let out = instance.call_method1(py, "on_ticks", (range.start, prices.to_vec(), stamps.to_vec()))?;
                let mut orders = Vec::new();
                if !out.is_none(py) {
                    for item in out.bind(py).try_iter()? {
                        let (tick, qty): (usize, i64) = item?.extract()?;
                        if !range.contains(&tick) {
                            return Err(PyValueError::new_err(format!(
                                "on_ticks returned an order at tick {tick}, outside this batch ({}..{})",
                                range.start, range.end
                            )));
                        }
                        orders.push(Order { tick, qty });
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

/// Runs the reference pipeline with a Python strategy class, once per element of `grid`
/// (each the `args` of `on_start`), one virtual-time bus per point on `workers` threads.
#[pyfunction]
#[pyo3(signature = (strategy, grid, ticks=100_000, seed=7, workers=None, data=None, batch=4096))]
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
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    if grid.is_empty() {
        return Err(PyValueError::new_err(
            "the grid is empty: give at least one set of args",
        ));
    }
    if batch == 0 {
        return Err(PyValueError::new_err("batch must be at least 1"));
    }
    let series = match data {
        Some(path) => {
            load_csv(&path)
                .map_err(|e| PyValueError::new_err(e.to_string()))?
                .0
        }
        None if ticks < 2 => return Err(PyValueError::new_err("ticks must be at least 2")),
        None => Series::synthetic(seed, ticks),
    };
    let series = Arc::new(series);
    let config = Config {
        batch,
        ..Config::default()
    };
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
                PyStrategyArgs {
                    class: class.clone(),
                    args: grid[*i].clone(),
                },
            );
            let (series, config) = (series.clone(), config.clone());
            async move { pipeline::run_with(&run.bus, series, spec, config).await }
        })
    });
    let mut rows = Vec::with_capacity(report.runs.len());
    for run in &report.runs {
        let row = PyDict::new(py);
        row.set_item("index", run.index)?;
        row.set_item("args", grid[run.index].clone_ref(py))?;
        row.set_item("seed", run.seed)?;
        match &run.result {
            Ok(r) => {
                row.set_item("pnl", r.pnl)?;
                row.set_item("sharpe", r.sharpe)?;
                row.set_item("max_drawdown", r.max_drawdown)?;
                row.set_item("trades", r.trades)?;
                row.set_item("fees", r.fees)?;
                row.set_item("ticks", r.ticks)?;
                row.set_item("restarts", r.restarts)?;
                row.set_item("trace_hash", format!("{:016x}", r.trace_hash))?;
                row.set_item("error", py.None())?;
            }
            Err(e) => row.set_item("error", e.to_string())?,
        }
        rows.push(row);
    }
    Ok(rows)
}
