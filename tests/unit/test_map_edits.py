"""A map is a document a person edits: --check lists problems with paths; re-planning keeps
the hand edits of unchanged nodes and records what changed."""

import yaml

from agentrun.agents.planning import plan_map
from agentrun.agents.replan import merge_replan
from agentrun.schemas import ExampleKind
from agentrun.sources import read_sources
from agentrun.workspace import check_map, save_map
from tests.conftest import EXAMPLE
from tests.unit.test_architect import QUOTAS


def test_check_reports_each_problem_with_its_path(tmp_path):
    path = tmp_path / "map.yaml"
    save_map(plan_map(read_sources(EXAMPLE / "sources").notes, QUOTAS), path)
    data = yaml.safe_load(path.read_text())
    data["anchors"][1]["dst"] = "photosynth"
    path.write_text(yaml.safe_dump(data))
    assert check_map(path)[1] == ["anchors[1].dst: unknown node 'photosynth'"]
    data["nodes"][3]["level"] = "huge"
    path.write_text(yaml.safe_dump(data))
    problems = check_map(path)[1]
    assert len(problems) == 1 and problems[0].startswith("nodes[3].level:")


def test_replan_keeps_hand_edits_of_unchanged_nodes(tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in ("Brinefire.md", "Kelpwax.md"):
        (sources / name).write_text((EXAMPLE / "sources" / name).read_text())
    old = plan_map(read_sources(sources).notes, QUOTAS)
    old.node("kelpwax").summary = "Edited by hand."
    old.node("kelpwax").quota[ExampleKind.dialogue] = 5
    old.node("brinefire").quota[ExampleKind.exercise] = 9
    (sources / "Brinefire.md").write_text((sources / "Brinefire.md").read_text()
                                          + "\nBrinefire smells faintly of iodine.\n")
    new = plan_map(read_sources(sources).notes, QUOTAS)
    fresh = merge_replan(old, new)
    assert fresh == {"brinefire"}
    assert new.node("kelpwax").summary == "Edited by hand."
    assert new.node("kelpwax").quota[ExampleKind.dialogue] == 5
    assert new.node("brinefire").quota[ExampleKind.exercise] == 9  # kept on a changed node
    assert new.version == old.version + 1
    assert new.history[-1].changes == [
        "~ node brinefire: facts +1 -0; probes rewritten, level and quotas kept"]


def test_rewriting_the_map_keeps_a_persons_comments(tmp_path):
    path = tmp_path / "map.yaml"
    dataset_map = plan_map(read_sources(EXAMPLE / "sources").notes, QUOTAS)
    save_map(dataset_map, path)
    text = path.read_text()
    assert text.startswith("# The dataset map: edit it by hand")
    # a person annotates a node and one of its quotas
    text = text.replace("- id: kelpwax\n", "- id: kelpwax  # ask Mirel about the wax\n", 1)
    text = text.replace("    exercise: 4\n", "    exercise: 4  # keep low: easy node\n", 1)
    path.write_text(text)
    # a revision raises a quota and splits nothing; a new anchor is appended
    from agentrun.workspace import load_map

    edited = load_map(path)
    edited.node("brinefire").quota[ExampleKind.exercise] = 9
    edited.anchors.append(edited.anchors[0].model_copy(update={"src": "kelpwax",
                                                                "dst": "tidebell"}))
    save_map(edited, path)
    again = path.read_text()
    assert "# ask Mirel about the wax" in again and "# keep low: easy node" in again
    assert again.startswith("# The dataset map: edit it by hand")
    reloaded = load_map(path)
    assert reloaded.node("brinefire").quota[ExampleKind.exercise] == 9
    assert reloaded == edited


def test_a_map_written_before_anchors_had_file_and_sentence_still_loads(tmp_path):
    """Old maps packed `evidence: "path: sentence"`; they load into the two fields."""
    from agentrun.workspace import load_map, save_map

    old = tmp_path / "map.yaml"
    old.write_text(
        "version: 3\nnodes:\n- {id: a, title: A}\n- {id: b, title: B}\n- {id: c, title: C}\n"
        "anchors:\n"
        "- {src: a, dst: b, evidence: 'notes/My Note.md: Kelpwax needs: brine and time.'}\n"
        "- {src: b, dst: c, evidence: 'split from b by revision'}\n")
    m = load_map(old)
    (ab, bc) = m.anchors
    assert (ab.file, ab.sentence) == ("notes/My Note.md", "Kelpwax needs: brine and time.")
    assert (bc.file, bc.sentence) == ("", "split from b by revision")
    save_map(m, tmp_path / "new.yaml")
    text = (tmp_path / "new.yaml").read_text()
    assert "evidence" not in text and "sentence: 'Kelpwax needs: brine and time.'" in text
    assert load_map(tmp_path / "new.yaml") == m
