"""The drawing shows probe scores per node once a run has scored them."""

from agentrun.mapview import gain_colour, node_gain, svg
from agentrun.schemas import NodeMetrics
from tests.unit.test_architect import example_map


def test_scored_nodes_get_a_ring_coloured_by_their_gain():
    m = example_map()
    m.node("kelpwax").metrics = NodeMetrics(before={"absorption": -8.0, "transfer": -8.0},
                                            after={"absorption": -2.0, "transfer": -8.0})
    assert node_gain(m.node("kelpwax")) == 3.0 and node_gain(m.node("orvane")) is None
    assert gain_colour(-1.0) == "#ff0040" and gain_colour(3.0) == "#00c840"
    drawing = svg(m)
    assert drawing.count('stroke-width="5"') == 1 and "gain +3.00" in drawing
