"""LangGraph wiring: state, context and the orchestrator graph."""
