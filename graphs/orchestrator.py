"""The orchestrator graph: the whole loop, its decisions beside its wiring.

ingest → architect → review → (dispatch → contractors → checker → steer)* → train →
evaluate → revise → (next cycle | export). `review` (approve the plan) and `steer` (keep one
of a node's alternatives) are the forks where a person may be asked (agents/steering.py).
The routers below are the loop's decisions, with their budget checks; the nodes
(graphs/nodes.py) only do their step.

`graph` is compiled without a checkpointer for `langgraph dev` / Studio (the server brings
its own); the CLI compiles `build()` with a SQLite checkpointer per run.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agentrun.graphs import nodes
from agentrun.graphs.context import Context
from agentrun.graphs.deps import settings_of
from agentrun.graphs.state import InputState, State


def route_after_review(state: State) -> Literal["dispatch", "__end__"]:
    """Generate from the approved map, or end the run a person stopped at the plan."""
    return "__end__" if str(state.get("status", "")).startswith("stopped") else "dispatch"


def route_after_dispatch(state: State, runtime: Runtime[Context]
                         ) -> Literal["contractors", "train", "export"]:
    """Another round while the map needs examples and rounds and tokens are left; then train.

    With `budgets.cycles: 0` the run builds and checks the corpus only, and exports it.
    """
    budgets = settings_of(dict(state), runtime.context).budgets
    tokens_left = budgets.max_tokens is None or state.get("tokens_spent", 0) < budgets.max_tokens
    if state.get("needed", 0) and state["round"] < budgets.max_rounds and tokens_left:
        return "contractors"
    return "export" if budgets.cycles == 0 else "train"


def route_after_revise(state: State, runtime: Runtime[Context]
                       ) -> Literal["next_cycle", "export"]:
    """Another cycle while cycles, wall time and the example budget allow; else export."""
    budgets = settings_of(dict(state), runtime.context).budgets
    elapsed = time.time() - state["started_at"]
    more = (state["iteration"] < budgets.cycles and elapsed < budgets.wall_time_s
            and state["accepted"] < budgets.max_examples)
    return "next_cycle" if more else "export"


def build() -> StateGraph[State, Context, InputState, State]:
    """Return the uncompiled orchestrator graph."""
    g = StateGraph(State, input_schema=InputState, context_schema=Context)
    for name in ("ingest", "architect", "review", "dispatch", "contractors", "checker", "steer",
                 "train", "evaluate", "revise", "next_cycle", "export"):
        g.add_node(name, getattr(nodes, name))
    g.add_edge(START, "ingest")
    g.add_edge("ingest", "architect")
    g.add_edge("architect", "review")
    g.add_conditional_edges("review", route_after_review)
    g.add_conditional_edges("dispatch", route_after_dispatch)
    g.add_edge("contractors", "checker")
    g.add_edge("checker", "steer")
    g.add_edge("steer", "dispatch")
    g.add_edge("train", "evaluate")
    g.add_edge("evaluate", "revise")
    g.add_conditional_edges("revise", route_after_revise)
    g.add_edge("next_cycle", "dispatch")
    g.add_edge("export", END)
    return g


def compile_graph(checkpointer: Any = None) -> Any:
    """Compile the orchestrator, optionally with a checkpointer."""
    return build().compile(checkpointer=checkpointer)


graph = compile_graph()
