"""English words of `agentrun chat`: what a person may ask for, and what the chat answers."""

from __future__ import annotations

from agentrun.languages.steer_words import SteerWords

HELP = """commands:
  status            where the run is: node, cycle, round, counts, the fork it waits at
  weak              the map's weak nodes after the last evaluation
  go | pause        continue the run | stop it after the current step (resumable)
  A, B, none        answer the fork the run waits at (none: reject every alternative)
  edit B: TEXT      keep option B of an examples fork with your own wording
  why ID            why an example was rejected (an id or its first characters)
  rejected          rejections by reason
  quit              leave; the run stays resumable (`agentrun chat RUN` comes back)
anything else is an instruction for the map, e.g. "more dialogues on Kelpwax",
"merge Kelpwax and Brinefire", "stop generating for Fenwick Reef", "focus on transfer".
Write in Russian and the chat answers in Russian."""

REPLIES = {
    "greet": "run {run} ({status}); `help` lists what you can say",
    "new": "new",
    "left": "left run {run} ({status}); come back with `agentrun chat {root}`",
    "error": "the run stopped on an error: {error} (status: `agentrun status {root}`; "
             "`go` retries)",
    "step": "· {node}{counts}",
    "count": "{name} {n}",
    "answer_fork": "answer with a label (or `none`), or keep talking",
    "paused_before": "paused before {nodes}; `go` goes on",
    "pausing_wait": "pausing after the current step (last done: {last})…",
    "pausing": "pausing after the current step",
    "not_going": "the run is not going",
    "going": "the run is going; `pause` stops it after the current step",
    "waits_at": "the run waits at fork {fork}: answer it first (`status` shows it)",
    "finished": "the run is {status}; start another with `agentrun chat {workspace}`",
    "going_no_fork": "the run is going; no fork waits for an answer",
    "no_fork": "no fork waits for an answer (`status` shows where the run is)",
    "not_an_option": "fork {fork}: '{answer}' is not one of the options: answer {options}",
    "or_none": " or none",
    "status_going": "run {run}: going (last step done: {last})",
    "status": "run {run}: [bold]{status}[/]{next}; cycle {cycle}, round {round}, "
              "{accepted} accepted, {rejected} rejected",
    "status_next": ", next: {nodes}",
    "weak_nodes": "weak nodes: {nodes}",
    "no_weak": "no weak node (no evaluation yet, or every node learned)",
    "weak_node": "{node} ({title}): gain {gains}; quota {quota}",
    "why_accepted": "{ref}: accepted, not rejected",
    "why_unknown": "{ref}: no rejected example of this run has that id",
    "why_rejected": "{id} ({kind} on {node}) was rejected:",
    "not_planned": "the map is not planned yet; wait for the plan fork",
    "failed": "{error}; nothing changed",
    "unknown_node": "no node called '{name}'; {hint}",
    "did_you_mean": "did you mean {ids}",
    "nodes": "nodes: {ids}",
    "not_understood": "cannot turn '{text}' into a map edit; try: more dialogues on NODE; "
                      "2 fewer exercises for NODE; merge NODE and NODE; stop generating for "
                      "NODE; resume NODE; focus the next cycle on transfer",
    "no_change": "(the map would not change)",
    "more_lines": "… {n} more lines",
    "apply": "apply this edit? [y/N]",
    "not_applied": "not applied",
    "queued": "approved: applied before the run's next step",
    "not_applied_error": "not applied: {error}",
    "applied": "applied: map v{version} ({changes})",
    "change_quota": "{node}: quota {kind} {before} → {after}",
    "change_stop": "{node}: generation stopped (quotas kept)",
    "change_resume": "{node}: generation resumed",
    "change_focus": "every node: quota {raised} (what teaches {probe})",
    "change_merge": "{gone} merged into {keep}: its facts, probes, quotas and anchors moved",
}

WORDS = SteerWords(
    language="en",
    letters="a-z",
    commands={"help": ("help", "?", "h"), "quit": ("quit", "exit", "bye", "q"),
              "status": ("status", "s", "where are we"), "weak": ("weak", "weak nodes"),
              "go": ("go", "resume", "continue", "run", "go on"),
              "pause": ("pause", "wait", "hold", "stop"), "rejected": ("rejected",)},
    why=r"(?i)^why(?: was| is)?(?: example)? ([\w:-]+)(?: rejected)?\??$",
    answer=r"(?i)^(?:answer |pick |keep |choose )?([a-z]|\d|none|reject)$",
    edit=r"(?is)^edit ([a-z]|\d)\s*:\s*(.+)$",
    none_words=frozenset({"none", "reject"}),
    yes=frozenset({"y", "yes"}),
    more=frozenset({"more", "add"}),
    fewer=frozenset({"fewer", "few", "less"}),
    numbers={"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
             "eight": 8, "nine": 9, "ten": 10},
    kinds={"exercise": "exercise", "question": "exercise", "example": "exercise",
           "dialogue": "dialogue", "dialog": "dialogue", "conversation": "dialogue",
           "rephrasing": "rephrasing", "rephrasings": "rephrasing", "rephrase": "rephrasing",
           "paraphrase": "rephrasing", "synthesis": "synthesis"},
    probes={"absorption": "absorption", "generalization": "generalization",
            "generalisation": "generalization", "transfer": "transfer"},
    merge=frozenset({"merge", "join", "combine"}),
    stop=frozenset({"stop", "pause", "halt"}),
    resume=frozenset({"resume", "restart", "continue"}),
    focus=frozenset({"focus"}),
    joiners=frozenset({"and", "with", "into"}),
    prepositions=frozenset({"on", "for", "about", "of", "in"}),
    filler=frozenset({"the", "node", "topic", "note", "generate", "generating", "generation",
                      "example", "for", "on", "about", "please"}),
    replies=REPLIES,
    kind_names={"exercise": "exercise", "dialogue": "dialogue", "rephrasing": "rephrasing",
                "synthesis": "synthesis", "megastructure_part": "megastructure_part",
                "choice": "choice"},
    probe_names={"absorption": "absorption", "generalization": "generalization",
                 "transfer": "transfer"},
    status_names={"created": "created", "running": "running", "waiting": "waiting",
                  "paused": "paused", "done": "done", "stopped": "stopped",
                  "failed": "failed", "interrupted": "interrupted"},
    help=HELP,
)
