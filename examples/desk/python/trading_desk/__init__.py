"""The desk example's Python side: the strategy (`trading_desk.strategy`), the module generated
from `desk.yaml` (`trading_desk.desk`, written by the build), and the programs `run` and
`check` that use the desk's wheel."""
