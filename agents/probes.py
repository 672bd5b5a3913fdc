"""Probes: the self-test questions that prove whether the student learned a node.

Absorption asks for a fact as stated, generalization in another form, transfer across two
facts (an anchor's bridge sentence, then a fact of the other node). Built from the facts
alone; `probe_support` counts how many the sources really support.
"""

from __future__ import annotations

from collections.abc import Iterator

from agentrun import languages
from agentrun.agents.questions import ask, person_node
from agentrun.agents.text import (
    SUBJECT_WORDS,
    Question,
    hide,
    names_in,
    normalize,
    question_form,
    split_fact,
)
from agentrun.markdown import plain_text
from agentrun.prompts import phrase
from agentrun.schemas import Anchor, DatasetMap, Fact, Node, Probe, ProbeKind, Relation
from agentrun.sources import Note

PROBES = "architect.probes.md"
"""The wording of the structural probes."""


def make_probes(node: Node, dataset_map: DatasetMap) -> list[Probe]:
    """Write absorption, generalization and transfer probes for a node from its facts."""
    splits = [(f, s) for f in node.facts
              if (s := split_fact(f.text, node.speaking(f).language))]
    probes: list[Probe] = []
    for i, (fact, (prefix, fw, answer)) in enumerate(splits[:2]):
        probes.append(Probe(id=f"{node.id}.a{i}", node_id=node.id, kind=ProbeKind.absorption,
                            prompt=phrase(PROBES, "absorption", node.speaking(fact).language,
                                          title=node.title, prefix=prefix, fw=fw),
                            answer=answer,
                            fact_ids=[fact.id]))
    facts = {f.id: f for f in node.facts}
    for i, (fact_ids, question) in enumerate(_generalizations(node, splits)):
        probes.append(Probe(id=f"{node.id}.g{i}", node_id=node.id,
                            kind=ProbeKind.generalization,
                            prompt=_generalization_prompt(node.speaking(facts[fact_ids[0]]),
                                                          question),
                            answer=question.answer, fact_ids=fact_ids))
    probes.extend(_transfer_probes(node, dataset_map))
    transfer = sum(p.kind == ProbeKind.transfer for p in probes)
    probes.extend(_inner_transfer_probes(node, 2 - transfer, start=transfer))
    return probes


def _generalizations(node: Node, splits: list[tuple[Fact, tuple[str, str, str]]]
                     ) -> list[tuple[list[str], Question]]:
    """Up to two questions from the role of an answer, and one asked backwards.

    Facts the absorption probes do not ask come first. A fact that calls the node "it" or
    "she" is asked backwards with the fact naming the node as the second it needs. A node
    none of whose facts has a recognisable shape asks its shortest fact's opening with a
    question word (a short node gets a generalization probe too).
    """
    person = person_node(node.title, [f.text for f in node.facts], node.language)
    absorbed = {f.id for f, _ in splits[:2]}
    ordered = sorted(node.facts, key=lambda f: f.id in absorbed)
    forward: list[tuple[list[str], Question]] = []
    backward: list[tuple[list[str], Question]] = []
    for fact in ordered:
        questions = [q for q in ask(fact.text, node.title, node.speaking(fact).language, person)
                     if len(q.answer) >= 2 and not _gives_away(q, node.title)]
        asked = {q.text for _, q in forward}
        forward += [([fact.id], q) for q in questions if q.role != "subject"
                    and q.text not in asked][:1]
        for q in questions:
            namer = next((f for f in [fact, *node.facts] if q.answer in f.text), None)
            if q.role == "subject" and namer is not None:
                backward.append(([fact.id] if namer is fact else [fact.id, namer.id], q))
    picked = forward[:2]
    used = {ids[0] for ids, _ in picked}
    picked += sorted(backward, key=lambda iq: iq[0][0] in used)[:1]
    if picked or not splits:
        return picked
    # a chat's speaker («Мы корректируем … что?», "We fixed …") names no thing of the notes
    said = [fs for fs in splits[2:] or splits if not languages.by_speaker(fs[0].text)]
    if not said:
        return []
    fact, (prefix, fw, answer) = min(said, key=lambda fs: len(fs[0].text))
    return [([fact.id], Question(question_form(prefix, fw, node.speaking(fact).language), answer,
                                 "what"))]


def _generalization_prompt(node: Node, question: Question) -> str:
    """Word a generalization probe so that no exercise asks it so.

    The exercises teach a fact's questions as a person asks them ("Where does Bruno Vale
    live?"); the probe asks the same thing in another wording ("tell me where Bruno Vale
    lives"), so it measures whether the student learned the fact, not the sentence. Asked
    backwards, the answer is often the node: no title then.
    """
    if question.role == "subject":
        return phrase(PROBES, "backward", node.language, question=question.text)
    if question.told:
        return phrase(PROBES, "told", node.language, title=node.title, told=question.told)
    return phrase(PROBES, "generalization", node.language, title=node.title,
                  question=question.text)


def _gives_away(question: Question, title: str) -> bool:
    """Whether a question's prompt would hold its own answer (the title frames forward ones)."""
    said = question.text if question.role == "subject" else f"{title} {question.text}"
    return f" {normalize(question.answer)} " in f" {normalize(said)} "


def _inner_transfer_probes(node: Node, need: int, start: int) -> list[Probe]:
    """Two-fact probes inside a node: X is named in one fact and completed in another.

    For notes without anchors (a single paragraph, plain text): the bridge fact, with a name
    hidden as X, identifies X; the probe then asks for the end of another fact about X.
    """
    if need <= 0:
        return []
    holders: dict[str, list[int]] = {}
    for i, fact in enumerate(node.facts):
        for name in names_in(fact.text):
            if name.lower() != node.title.lower():
                holders.setdefault(name, []).append(i)
    probes: list[Probe] = []
    used: set[int] = set()
    for name, idx in sorted(holders.items(), key=lambda kv: (-len(kv[0]), kv[0])):
        if len(probes) == need or len(idx) < 2:
            continue
        bridge, target = node.facts[idx[0]], node.facts[idx[-1]]
        split = split_fact(target.text, node.language)
        if idx[-1] in used or split is None:
            continue
        prefix, fw, answer = split
        if name.lower() not in prefix.lower() or name.lower() in answer.lower():
            continue
        used.add(idx[-1])
        probes.append(Probe(
            id=f"{node.id}.t{start + len(probes)}", node_id=node.id, kind=ProbeKind.transfer,
            prompt=phrase(PROBES, "transfer", node.language, title=node.title,
                          bridge=hide(bridge.text, name), task=f"{hide(prefix, name)} {fw}"),
            answer=answer, fact_ids=[bridge.id, target.id]))
    return probes


def _subject_as_x(prefix: str, title: str, language: str) -> str:
    """Turn a fact's opening about `title` into a claim about X ("It …", "The T …")."""
    low, key = prefix.lower(), title.lower()
    for lead in ("the " + key, key, *SUBJECT_WORDS.get(language, SUBJECT_WORDS["en"])):
        if low.startswith(lead) and (len(low) == len(lead) or not low[len(lead)].isalnum()):
            return "X" + prefix[len(lead):]
    return phrase(PROBES, "about_x", language, prefix=prefix)


def _transfer_probes(node: Node, dataset_map: DatasetMap) -> list[Probe]:
    """Two-hop probes, one pair per anchor whose ends chain: directly and step by step.

    The anchor's sentence (a fact of this node) names the other node; with that name hidden
    as X it identifies X, and the probe asks a fact of X's node: as a question where the
    fact's shape allows one ("Where does X stand?"), else as a statement to complete.
    """
    probes: list[Probe] = []
    language = node.language
    for anchor in dataset_map.neighbours(node.id):
        if anchor.relation == Relation.part_of:
            continue
        bridge = bridge_fact(node, anchor, dataset_map.node(anchor.dst).title)
        if bridge is None:
            continue
        fact, hidden = bridge
        found = next(tasks_on_x(dataset_map.node(anchor.dst), f"{node.title} {hidden}"), None)
        if found is None:
            continue
        target, task, answer = found
        n = len(probes) // 2
        for form, pid in (("transfer", f"{node.id}.t{n}"), ("transfer_steps", f"{node.id}.s{n}")):
            probes.append(Probe(
                id=pid, node_id=node.id, kind=ProbeKind.transfer,
                prompt=phrase(PROBES, form, language, title=node.title, bridge=hidden,
                              task=task),
                answer=answer, fact_ids=[fact.id, target.id]))
    return probes


def bridge_fact(node: Node, anchor: Anchor, title: str) -> tuple[Fact, str] | None:
    """Return the fact of `node` that names the anchor's other end, with that name as X.

    An embed on a line of its own names the other note in no sentence: the bridge is then
    the embedding itself ("This note embeds the note X."), cited by the node's first fact.
    """
    names = [n for n in (anchor.mention, title) if len(n) >= 3]
    for fact in sorted(node.facts, key=lambda f: f.text != anchor.sentence):
        for name in names:
            hidden = hide(fact.text, name)
            if hidden != fact.text:
                return fact, hidden
    if anchor.sentence.startswith(EMBEDS) and node.facts:
        return node.facts[0], phrase(PROBES, "embedded", node.language)
    return None


EMBEDS = "embeds "
"""How planning words the anchor of an embed that stands alone (`embeds <target>`)."""


def tasks_on_x(dst: Node, bridge: str) -> Iterator[tuple[Fact, str, str]]:
    """Yield facts of `dst` about itself as tasks on X (question or cloze), with their answers.

    The first is the transfer probe's; the others are left to the two-hop exercises.
    """
    person = person_node(dst.title, [f.text for f in dst.facts], dst.language)
    found = False
    for fact in [*dst.facts[1:], *dst.facts[:1]]:
        split = split_fact(fact.text, dst.language)
        if split is None:
            continue
        prefix, fw, answer = split
        claim = _subject_as_x(prefix, dst.title, dst.language)
        if not claim.startswith("X") or answer.lower() in bridge.lower():
            continue
        found = True
        about_x = "X" + fact.text[len(prefix) - len(claim) + 1:]
        question = next((q for q in ask(about_x, "X", dst.language, person)
                         if q.role != "subject" and q.answer.lower() not in bridge.lower()), None)
        yield (fact, question.text, question.answer) if question else \
            (fact, f"{claim} {fw}".strip(), answer)
    if found:
        return
    for fact in dst.facts:  # no fact opens with its subject: say which node X is about
        split = split_fact(fact.text, dst.language)
        if split and split[2].lower() not in bridge.lower():
            prefix, fw, answer = split
            yield fact, phrase(PROBES, "about_x", dst.language, prefix=f"{prefix} {fw}"), answer
            return


def probe_support(dataset_map: DatasetMap, notes: list[Note]) -> dict[ProbeKind, list[int]]:
    """Count, per probe kind, the probes the sources really support, as [supported, total].

    Absorption and generalization: the answer is in the source text at its fact's span.
    Transfer: the answer is in the other node's source text and the bridge is a sentence of
    the probed node's source that names the other node (so the answer is derivable).
    """
    texts = {n.path: n.text for n in notes}
    aliases = {n.path: n.aliases for n in notes}
    facts = {f.id: (node, f) for node in dataset_map.nodes for f in node.facts}
    counts = {k: [0, 0] for k in ProbeKind}
    mentions: dict[tuple[str, str], list[str]] = {}
    for anchor in dataset_map.anchors:
        if anchor.mention:
            mentions.setdefault((anchor.src, anchor.dst), []).append(anchor.mention)

    def source_of(fact: Fact) -> str:
        span = fact.span
        return plain_text(texts.get(span.file, "")[span.start:span.end]) if span else ""

    for probe in dataset_map.probes():
        counts[probe.kind][1] += 1
        found = [facts[f] for f in probe.fact_ids if f in facts]
        if not found or probe.answer.lower() not in source_of(found[-1][1]).lower():
            continue
        if probe.kind == ProbeKind.transfer:
            (bridge_node, bridge), (other, target) = found[0], found[-1]
            if other.id == probe.node_id:  # inside a node: both facts name what X hides
                names = list(names_in(source_of(target))) if bridge.id != target.id else []
            else:
                names = [other.title, *(a for s in other.sources for a in aliases.get(s.file, [])),
                         *mentions.get((bridge_node.id, other.id), ())]
            if bridge_node.id != probe.node_id or not any(
                    n.lower() in source_of(bridge).lower() for n in names):
                continue
        counts[probe.kind][0] += 1
    return counts
