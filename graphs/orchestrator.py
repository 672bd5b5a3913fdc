"""The orchestrator graph, exported for LangGraph Studio.

ingest → architect → review → (dispatch → contractors → checker → steer)* → train →
evaluate → revise → (another cycle | export). `review` (approve the plan) and `steer` (keep one
of a node's alternatives) are the forks where a person may be asked (agents/steering.py).

`graph` is compiled without a checkpointer for `langgraph dev` / Studio (the server brings
its own); the CLI compiles `build()` with a SQLite checkpointer per run.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agentrun.agents.architect import ingest_node, plan_node, revise_node
from agentrun.agents.checker import checker_node
from agentrun.agents.contractors import contractors_node, dispatch_node
from agentrun.agents.evaluator import evaluate_node
from agentrun.agents.steering import review_node, steer_node
from agentrun.agents.trainer import export_node, train_node
from agentrun.graphs.context import Context
from agentrun.graphs.state import InputState, State


def build() -> StateGraph:
    """Return the uncompiled orchestrator graph."""
    g = StateGraph(State, input_schema=InputState, context_schema=Context)
    g.add_node("ingest", ingest_node)
    g.add_node("architect", plan_node)
    g.add_node("review", review_node)
    g.add_node("dispatch", dispatch_node)
    g.add_node("contractors", contractors_node)
    g.add_node("checker", checker_node)
    g.add_node("steer", steer_node)
    g.add_node("train", train_node)
    g.add_node("evaluate", evaluate_node)
    g.add_node("revise", revise_node)
    g.add_node("export", export_node)
    g.add_edge(START, "ingest")
    g.add_edge("ingest", "architect")
    g.add_edge("architect", "review")
    g.add_edge("contractors", "checker")
    g.add_edge("checker", "steer")
    g.add_edge("steer", "dispatch")
    g.add_edge("train", "evaluate")
    g.add_edge("evaluate", "revise")
    g.add_edge("export", END)
    return g


def compile_graph(checkpointer: Any = None) -> Any:
    """Compile the orchestrator, optionally with a checkpointer."""
    return build().compile(checkpointer=checkpointer)


graph = compile_graph()
