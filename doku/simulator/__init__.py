"""A local DOKU for demos, tests and benchmarks: server, fault config, world, processes
(one, or several serving one port: `group`).

Rule: imports the client layer's signing and event-loop choice (`doku.client.loops`)
and the shared vocabulary only. Nothing else in `doku` imports it except the CLI's
`sandbox` command and the engine's embedded-simulator opt-in (`doku.engine.connection`).
"""

from doku.simulator.faults import (
    FAIL_STATUSES,
    FAULTS,
    SimulatorConfig,
    config_to_argv,
    config_to_env,
    failure_status,
    planned_fault,
)
from doku.simulator.group import fork_servers, group_problem, listening_sockets, stop_children
from doku.simulator.process import (
    FRONT_ENDS,
    RunningSimulator,
    start_simulator,
    start_simulator_process,
    stop_simulator_process,
)
from doku.simulator.state import SimulatorStats

__all__ = [
    "FAIL_STATUSES",
    "FAULTS",
    "FRONT_ENDS",
    "RunningSimulator",
    "SimulatorConfig",
    "SimulatorStats",
    "config_to_argv",
    "config_to_env",
    "failure_status",
    "fork_servers",
    "group_problem",
    "listening_sockets",
    "planned_fault",
    "start_simulator",
    "start_simulator_process",
    "stop_children",
    "stop_simulator_process",
]
