"""Draw the dataset map: a self-contained HTML page (graph + semantic-load table) and a PNG.

Nodes are filled by level (micro / meso / macro) and sized by their facts; after a run, a ring
around each node shows its mean log-prob gain over the probes (red: nothing learned, green:
learned), so the picture answers "what did this dataset teach, and where not".
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from agentrun.schemas import DatasetMap, EvalReport, ExampleKind, Level, Node, ProbeKind

KIND_COLOURS = {"absorption": "#219ebc", "generalization": "#fb8500", "transfer": "#8338ec"}
LEVEL_COLOURS = {Level.micro: "#8ecae6", Level.meso: "#219ebc", Level.macro: "#023047"}
RELATION_COLOURS = {
    "prerequisite": "#d62828", "elaborates": "#8d99ae", "contrasts": "#f77f00",
    "example_of": "#2a9d8f", "part_of": "#6a4c93", "generalizes": "#e9c46a",
}
SIZE = 900  # the drawing's side, in SVG units


def node_gain(node: Node) -> float | None:
    """Return the node's mean log-prob gain (after - before) over its probe kinds, if scored."""
    if node.metrics is None or not node.metrics.after:
        return None
    gains = [node.metrics.after[k] - node.metrics.before.get(k, node.metrics.after[k])
             for k in node.metrics.after]
    return sum(gains) / len(gains)


def gain_colour(gain: float, full: float = 3.0) -> str:
    """Map a gain to red (≤ 0) … yellow … green (≥ `full`)."""
    t = max(0.0, min(1.0, gain / full))
    red, green = (255, int(510 * t)) if t < 0.5 else (int(510 * (1 - t)), 200)
    return f"#{red:02x}{green:02x}40"


def layout(dataset_map: DatasetMap) -> dict[str, tuple[float, float]]:
    """Place the nodes (force-directed, seeded so the same map draws the same way)."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(n.id for n in dataset_map.nodes)
    graph.add_edges_from((a.src, a.dst) for a in dataset_map.anchors)
    k = 1.5 / math.sqrt(max(len(dataset_map.nodes), 1))
    pos = nx.spring_layout(graph, seed=0, k=k, iterations=100)
    return {n: (float(x), float(y)) for n, (x, y) in pos.items()}


def _to_svg(pos: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9)
    margin = 60
    scale = (SIZE - 2 * margin) / span
    return {n: (margin + (x - min(xs)) * scale, margin + (y - min(ys)) * scale)
            for n, (x, y) in pos.items()}


def _radius(node: Node) -> float:
    return 6 + 2.5 * math.sqrt(len(node.facts))


def svg(dataset_map: DatasetMap) -> str:
    """Return the map's graph as an SVG element (tooltips carry each node's numbers)."""
    pos = _to_svg(layout(dataset_map))
    labels = len(dataset_map.nodes) <= 80
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}" '
             f'width="{SIZE}" height="{SIZE}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
             'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
             '<path d="M 0 0 L 10 5 L 0 10 z" fill="#999"/></marker></defs>']
    by_id = {n.id: n for n in dataset_map.nodes}
    for a in dataset_map.anchors:
        (x1, y1), (x2, y2) = pos[a.src], pos[a.dst]
        d = math.hypot(x2 - x1, y2 - y1) or 1.0
        r = _radius(by_id[a.dst]) + 3
        x2, y2 = x2 - (x2 - x1) * r / d, y2 - (y2 - y1) * r / d
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                     f'stroke="{RELATION_COLOURS[a.relation]}" stroke-width="1.2" '
                     f'marker-end="url(#arrow)"><title>{html.escape(a.src)} → '
                     f'{html.escape(a.dst)} ({a.relation}): {html.escape(a.sentence)}</title>'
                     '</line>')
    for node in dataset_map.nodes:
        x, y = pos[node.id]
        gain = node_gain(node)
        ring = (f'stroke="{gain_colour(gain)}" stroke-width="5"' if gain is not None
                else 'stroke="#fff" stroke-width="1"')
        tip = (f"{node.title} ({node.id}), {node.level}: {len(node.facts)} facts, "
               f"{len(node.probes)} probes" + (f", gain {gain:+.2f}" if gain is not None else ""))
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{_radius(node):.1f}" '
                     f'fill="{LEVEL_COLOURS[node.level]}" {ring}>'
                     f'<title>{html.escape(tip)}</title></circle>')
        if labels:
            parts.append(f'<text x="{x:.1f}" y="{y - _radius(node) - 6:.1f}" '
                         f'text-anchor="middle" font-size="12">{html.escape(node.title)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def load_table(dataset_map: DatasetMap) -> str:
    """Return the semantic load as an HTML table: per node, facts, quotas, probes and scores."""
    kinds = [k for k in ExampleKind if any(k in n.quota for n in dataset_map.nodes)]
    head = ["node", "level", "facts", *(f"quota {k}" for k in kinds),
            *(f"{k} before → after" for k in ProbeKind)]
    rows = []
    for n in dataset_map.nodes:
        scores = []
        for k in ProbeKind:
            if n.metrics is not None and k in n.metrics.after:
                scores.append(f"{n.metrics.before.get(k, 0):.2f} → {n.metrics.after[k]:.2f}")
            else:
                scores.append(str(sum(p.kind == k for p in n.probes)) + " probes")
        cells = [html.escape(n.title), str(n.level), str(len(n.facts)),
                 *(str(n.quota.get(k, 0)) for k in kinds), *scores]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
            + "".join(rows) + "</table>")


def write_html(dataset_map: DatasetMap, path: Path) -> Path:
    """Write a self-contained page (no scripts, no network) with the graph and the table."""
    legend = " ".join(f'<span style="color:{c}">● {lvl}</span>'
                      for lvl, c in LEVEL_COLOURS.items())
    relations = " ".join(f'<span style="color:{c}">— {r}</span>'
                         for r, c in RELATION_COLOURS.items())
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in dataset_map.problems)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>dataset map v{dataset_map.version}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px}} th{{background:#eee}}</style>
</head><body>
<h1>dataset map v{dataset_map.version}</h1>
<p>{len(dataset_map.nodes)} nodes, {len(dataset_map.anchors)} anchors,
{sum(len(n.facts) for n in dataset_map.nodes)} facts, {len(dataset_map.probes())} probes.
Fill: {legend}. Ring after a run: mean log-prob gain (red none … green ≥ 3).
Anchors: {relations}. Hover a node or an anchor for its details.</p>
{svg(dataset_map)}
<h2>semantic load</h2>
{load_table(dataset_map)}
{f"<h2>problems</h2><ul>{problems}</ul>" if problems else ""}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


def write_png(dataset_map: DatasetMap, path: Path) -> Path:
    """Draw the same graph as a PNG (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pos = _to_svg(layout(dataset_map))
    fig, ax = plt.subplots(figsize=(10, 10), dpi=100)
    ax.set_xlim(0, SIZE)
    ax.set_ylim(SIZE, 0)
    ax.axis("off")
    for a in dataset_map.anchors:
        (x1, y1), (x2, y2) = pos[a.src], pos[a.dst]
        ax.annotate("", xy=(x2, y2), xytext=(x1, y1),
                    arrowprops={"arrowstyle": "->", "color": RELATION_COLOURS[a.relation],
                                "lw": 0.8, "shrinkB": 8})
    for node in dataset_map.nodes:
        x, y = pos[node.id]
        gain = node_gain(node)
        ax.scatter([x], [y], s=(_radius(node) * 2.2) ** 2, c=LEVEL_COLOURS[node.level],
                   edgecolors=gain_colour(gain) if gain is not None else "white",
                   linewidths=4 if gain is not None else 1, zorder=3)
        if len(dataset_map.nodes) <= 80:
            ax.text(x, y - _radius(node) - 8, node.title, ha="center", fontsize=8, zorder=4)
    ax.set_title(f"dataset map v{dataset_map.version}: {len(dataset_map.nodes)} nodes, "
                 f"{len(dataset_map.anchors)} anchors")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def write_gain_chart(report: EvalReport, titles: dict[str, str], path: Path) -> Path:
    """Draw each node's log-prob gain per probe kind as horizontal bars (PNG).

    Nodes are sorted by their mean gain, weakest at the top, where the revision looks.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    deltas: dict[str, dict[str, list[float]]] = {}
    for r in report.probes:
        deltas.setdefault(r.node_id, {}).setdefault(str(r.kind), []).append(
            r.logprob_after - r.logprob_before)
    gains = {n: {k: sum(v) / len(v) for k, v in kinds.items()} for n, kinds in deltas.items()}
    mean = {n: sum(sum(v) for v in kinds.values()) / sum(len(v) for v in kinds.values())
            for n, kinds in deltas.items()}
    order = sorted(gains, key=mean.__getitem__, reverse=True)
    kinds = [k for k in ("absorption", "generalization", "transfer")
             if any(k in g for g in gains.values())]
    height = 0.8 / max(len(kinds), 1)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.35 * max(len(order), 1)), dpi=100)
    for i, kind in enumerate(kinds):
        ys = [j + i * height for j in range(len(order))]
        ax.barh(ys, [gains[n].get(kind, 0.0) for n in order], height=height,
                label=kind, color=KIND_COLOURS[kind])
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(order))])
    ax.set_yticklabels([titles.get(n, n)[:40] for n in order], fontsize=8)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("mean target log-prob gain after training (nats)")
    forgot = report.forgetting()
    guard = (f"; general questions kept {forgot['still_answered']}/{forgot['answered_before']}"
             if report.guard else "")
    ax.set_title(f"{report.run} iteration {report.iteration}: per-node gains{guard}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
