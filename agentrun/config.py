"""Configuration: defaults < workspace `agentrun.yaml` < environment (`AGENTRUN_…`) < CLI flags.

Resolved once, at the edge (the CLI or the Python API), into an `AgentrunConfig`; graph nodes
read it from `runtime.context`, never from the environment. Unknown keys are errors that name
the key, so a typo in `agentrun.yaml` never silently falls back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agentrun.errors import ConfigError
from agentrun.schemas import ExampleKind

CONFIG_FILE = "agentrun.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoleSpec(_Section):
    """Which backend and model a role uses, and how to call it."""

    backend: Literal["local", "openai", "ray", "vllm"] = "local"
    """`local` (transformers in process), `openai` (any compatible server), `ray` (the same
    servers, a round's requests as one Ray Data job on a cluster) or `vllm`."""
    model: str = "embedded"
    """`embedded` (SmolLM2-135M-Instruct shipped on PyPI), a local folder, or a served name."""
    base_url: str | list[str] = "http://127.0.0.1:8000/v1"
    """Server address for the `openai` and `ray` backends, or a list of them (replicas of one
    model, each request to the least-loaded)."""

    @field_validator("base_url")
    @classmethod
    def _some_server(cls, value: str | list[str]) -> str | list[str]:
        """Refuse an empty list of servers."""
        if isinstance(value, list) and not value:
            raise ValueError("give at least one server address")
        return value
    ray_address: str | None = None
    """The Ray cluster of the `ray` backend: `auto` (the cluster this machine belongs to),
    `HOST:6379` or `ray://HOST:10001`; unset, a local Ray on this machine's CPUs."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (a placeholder is sent when it is unset)."""
    max_concurrency: int = Field(default=16, ge=1)
    """Concurrent requests per server for the `openai` and `ray` backends."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Seconds the `openai` and `ray` backends wait for a server to connect and for each next
    piece of a reply; a server silent that long is not answering (retried, and when retries
    run out the batch stops)."""
    deadline_s: float | None = Field(default=None, gt=0)
    """Seconds one try of a request (connect, send, the whole reply) may take at most, however
    the server sends it (a byte every half second, events without end); unset, 3 × `timeout_s`.
    A reply not complete by then is retried like a timeout, but fails only its request, never
    the batch. At least `timeout_s`."""
    max_reply_bytes: int = Field(default=8_000_000, ge=1024)
    """Largest reply the `openai` and `ray` backends read, in bytes; reading stops there and
    that request fails alone, not retried (the same request would get the same reply)."""

    @model_validator(mode="after")
    def _deadline_after_timeout(self) -> RoleSpec:
        """Refuse a deadline shorter than the read timeout it bounds."""
        if self.deadline_s is not None and self.deadline_s < self.timeout_s:
            raise ValueError(f"deadline_s ({self.deadline_s:g}) bounds a whole request: make "
                             f"it at least timeout_s ({self.timeout_s:g})")
        return self
    max_retries: int = Field(default=4, ge=0)
    """Retries on 429/5xx/timeouts (never on other 4xx)."""
    batch_size: int = Field(default=16, ge=1)
    """Prompts per padded `generate` call for the `local` backend."""
    device: str = "auto"
    """`auto`, `cpu` or `cuda` for the `local` backend."""
    temperature: float | None = Field(default=None, ge=0)
    """Sampling temperature of every call of the role (0 is greedy); unset, the role's
    default (ROLE_SAMPLING)."""
    max_new_tokens: int | None = Field(default=None, ge=1)
    """Upper bound on generated tokens per call of the role (a call may ask for fewer);
    unset, the role's default (ROLE_SAMPLING)."""


ROLE_SAMPLING: dict[str, tuple[float, int]] = {
    "architect": (0.0, 160),   # summaries, relations, probes: read off the notes, greedy
    "contractor": (0.7, 512),  # varied wording; a macro synthesis asks for ~420 tokens
    "checker": (0.0, 160),     # a judgement, greedy
    "student": (0.0, 24),      # greedy answers to probes (their length: evaluation.max_new_tokens)
}
"""Per role, the (temperature, max_new_tokens) a role uses where agentrun.yaml sets none."""


class Roles(_Section):
    """Each role names its own backend and model (multi-model orchestration)."""

    architect: RoleSpec = Field(default_factory=RoleSpec)
    contractor: RoleSpec = Field(default_factory=RoleSpec)
    checker: RoleSpec = Field(default_factory=RoleSpec)
    student: RoleSpec = Field(default_factory=RoleSpec)

    @model_validator(mode="after")
    def _role_sampling(self) -> Roles:
        """Fill each role's unset sampling settings with the role's defaults."""
        greedy, length = ROLE_SAMPLING["student"]
        if self.student.max_new_tokens not in (None, length) \
                or self.student.temperature not in (None, greedy):
            raise ValueError("roles.student: the student answers probes greedily; set their "
                             "length with evaluation.max_new_tokens, not temperature or "
                             "max_new_tokens here")
        for role, (temperature, max_new_tokens) in ROLE_SAMPLING.items():
            spec: RoleSpec = getattr(self, role)
            if spec.temperature is None:
                spec.temperature = temperature
            if spec.max_new_tokens is None:
                spec.max_new_tokens = max_new_tokens
        return self


class Budgets(_Section):
    """Limits of a run: cycles of the loop, examples, generation rounds, wall time, tokens."""

    cycles: int = Field(default=1, ge=0)
    """Full cycles (generate → train → evaluate → revise); 0: generate and check the corpus,
    export it, and stop (train elsewhere, or with `agentrun train RUN`)."""
    max_examples: int = Field(default=400, ge=1)
    """Accepted examples per run, at most."""
    max_rounds: int = Field(default=2, ge=1)
    """Generation rounds per cycle to fill quota deficits left by rejections."""
    wall_time_s: float = Field(default=3600.0, gt=0)
    """Stop starting new cycles after this many seconds."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Tokens the contractor model may generate in a run (fresh responses; the cache's are
    free), checked before each round: a spent budget starts no new round. Unset: no limit."""


class Planning(_Section):
    """How the architect draws the map."""

    max_node_facts: int = Field(default=40, ge=4)
    """A note or section with more sentences is split into parts (with a warning)."""
    model_probes: Literal["auto", "on", "off"] = "auto"
    """Let the architect model write transfer probes and type anchors (validated against the
    sources; structural ones are kept where it fails). `auto`: on unless the architect is the
    embedded 135M model."""
    max_split_facts: int = Field(default=24, ge=4)
    """A revision splits a node with more facts than this when its absorption probes fail."""
    max_note_mb: float = Field(default=5.0, gt=0)
    """A note larger than this (megabytes) is skipped with a problem naming it: a book-sized
    file is better split into notes."""


class Generation(_Section):
    """What the contractors emit per node and how."""

    quotas: dict[ExampleKind, int] = Field(
        default_factory=lambda: {
            ExampleKind.exercise: 12,
            ExampleKind.rephrasing: 2,
            ExampleKind.dialogue: 1,
            ExampleKind.synthesis: 1,
        }
    )
    """Default examples of each kind per node, or per `facts_per_quota` facts (the map's node
    quotas override these; a node without anchors gets no syntheses)."""
    facts_per_quota: int | None = Field(default=6, ge=1)
    """The quotas are for a node of this many facts; a longer node gets them multiplied
    (20 facts at 6: four times), so every fact is covered. null: per node, whatever its size."""
    model_generators: bool = True
    """Let the contractor model write examples beside the structural ones."""
    model_share: dict[ExampleKind, float] | None = None
    """Part of each kind's need asked of the contractor model, the rest structural. Unset:
    rephrasings and dialogues with the embedded model; also half the exercises and syntheses
    with any other model."""
    megastructure: bool = True
    """Also emit the whole map as one linked text, split into parts that fit the student's
    context (`megastructure_part` examples)."""
    structured_retries: int = Field(default=1, ge=0)
    """Bounded retries when a model output fails its schema."""
    seed: int = 0
    """Seed for structural choices and sampling: a workspace's first run uses it (the same
    notes and settings give the same corpus), each later run moves on from it."""


class CheckerSettings(_Section):
    """Thresholds of the consistency checker."""

    minhash_threshold: float = Field(default=0.85, gt=0, le=1)
    """Jaccard similarity (word 3-grams) above which an example is a near duplicate."""
    num_perm: int = Field(default=128, ge=16)
    """MinHash permutations."""
    embed_threshold: dict[ExampleKind, float] = Field(
        default_factory=lambda: {
            ExampleKind.exercise: 0.985,
            ExampleKind.rephrasing: 0.97,
            ExampleKind.dialogue: 0.97,
        }
    )
    """Cosine similarity above which an example is a near duplicate, per kind (default 0.97)."""
    containment_threshold: float = Field(default=0.9, gt=0, le=1)
    """Share of an example's word 3-grams inside another (at most twice its size) above which
    it is a near duplicate: the same text with a little filler."""
    min_grounding: float = Field(default=0.6, ge=0, le=1)
    """Share of an answer's content words that must come from its node or anchored nodes."""
    min_sentence_support: float = Field(default=1.0, ge=0, le=1)
    """Share of each sentence's content words a model-written answer must take from its
    node's or anchored nodes' facts (a sentence that adds to the notes is rejected; its
    clauses must also keep the order of some fact)."""
    min_chars: int = Field(default=12, ge=1)
    """Shorter examples are rejected as too short."""
    max_chars: int = Field(default=4000, ge=10)
    """Longer examples are rejected as too long (megastructure parts: `max_part_chars`)."""
    max_part_chars: int = Field(default=40_000, ge=10)
    """Longer megastructure parts are rejected (they are cut to the student's context)."""
    judge: Literal["auto", "on", "off"] = "auto"
    """Ask the checker model whether model-written examples agree with their node's facts:
    `auto` does when the checker role names a model other than the embedded one."""


class Embedder(_Section):
    """The sentence embedder used by memory and the checker."""

    model: str = "embedded"
    """`embedded` (all-MiniLM-L6-v2 shipped on PyPI) or a local sentence-transformers folder."""
    batch_size: int = Field(default=64, ge=1)


class MemorySettings(_Section):
    """Where the workspace's memory of accepted examples lives."""

    server: str | None = None
    """A Chroma server (`chroma run`, e.g. `http://127.0.0.1:8000`) that several workers and
    machines share; unset: the workspace's `memory/chroma` folder, one writer at a time."""
    collection: str = Field(default="examples", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}"
                                                        r"[a-zA-Z0-9]$")
    """The collection on the server (one per workspace sharing it)."""


class Training(_Section):
    """The LoRA recipe: a preset by name, then any field overridden here."""

    preset: Literal["cpu-tiny", "gpu-24gb", "gpu-96gb", "gpu-multi"] = "cpu-tiny"
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    target_modules: list[str] | None = None
    learning_rate: float | None = None
    epochs: float | None = None
    max_steps: int | None = None
    batch_size: int | None = None
    grad_accum: int | None = None
    max_seq_len: int | None = None
    bf16: bool | Literal["auto"] | None = None
    """bf16 weights and autocast; `auto`: on a GPU, or a CPU with bf16 instructions."""
    gradient_checkpointing: bool | None = None
    seed: int | None = None
    fused_lm_head: bool | Literal["auto"] | None = None
    """TRL's fused LM head (log-probs in chunks, never the full logits: less memory);
    `auto` (the default): on a GPU. On a CPU the model's own loss is ~30% faster, with the
    same labels."""
    attention: Literal["auto", "segments", "sdpa", "eager", "flash_attention_2"] | None = None
    """Attention for training. `auto` (the default): for padding-free batches, flash attention
    on a GPU with the flash-attn package, else `segments` (one SDPA call per example of the
    packed row, never a mask over the whole row); for padded batches, the model's default."""
    format: Literal["chat", "text"] | None = None
    """`chat` (the default): loss on the assistant turns; `text`: continued pretraining on the
    examples as plain text (loss on every token)."""
    dpo: bool | None = None
    """After SFT, train DPO on the checker's near-misses (a corrected contradiction over the
    wrong answer; an accepted answer over an ungrounded one), starting from the SFT adapter."""
    dpo_beta: float | None = Field(default=None, gt=0)
    dpo_learning_rate: float | None = Field(default=None, gt=0)
    dpo_epochs: float | None = Field(default=None, gt=0)
    replay: float | None = Field(default=None, ge=0, le=4)
    """Replay rows per training example (default 1; 0: none): the base student's own
    answers to general prompts (self-distillation), mixed in so the adapter keeps what the
    student knew. No external data; generated once per student and cached beside the adapter."""
    report_to: list[str] | None = None
    processes: int | Literal["auto"] | None = Field(default=None, ge=1)
    """Training processes, launched by `accelerate launch` (DDP): 1 (the default) trains in one
    process; `auto`, one per GPU. On a CPU, processes that sync over gloo."""
    accelerate_config: str | None = None
    """An accelerate config file (`accelerate config`: FSDP, DeepSpeed, several machines) the
    launch reads; its own settings come first, `processes` is passed beside them."""
    """Where training metrics go besides the terminal (TensorBoard in ADAPTER/tensorboard, the
    default; any `report_to` transformers knows, e.g. `wandb`, `mlflow`; `[]` for none)."""


class Recipe(_Section):
    """The resolved training recipe, its defaults written once, here.

    A preset's values, the workspace's overrides, and the defaults below; the parent writes
    it beside the adapter and the training child validates it.
    """

    preset: str = "custom"
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    target_modules: list[str]
    learning_rate: float
    epochs: float
    max_steps: int
    batch_size: int
    grad_accum: int
    max_seq_len: int
    bf16: bool | Literal["auto"]
    gradient_checkpointing: bool
    seed: int = 0
    fused_lm_head: bool | Literal["auto"] = "auto"
    attention: Literal["auto", "segments", "sdpa", "eager", "flash_attention_2"] = "auto"
    format: Literal["chat", "text"] = "chat"
    dpo: bool = False
    dpo_beta: float = Field(default=0.1, gt=0)
    dpo_learning_rate: float = Field(default=5e-5, gt=0)
    dpo_epochs: float = Field(default=1.0, gt=0)
    replay: float = Field(default=1.0, ge=0, le=4)
    """Replay rows (the base student's own answers to general prompts) per example."""
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    stage: Literal["sft", "dpo"] = "sft"
    """Which stage a child trains: `sft` on the corpus, `dpo` on preference pairs."""
    padding_free: bool = True
    """One row of a batch's examples end to end (no padding); False pads each example."""
    save_steps: int = Field(default=50, ge=1)
    """Steps between checkpoints (each marked COMPLETE once written)."""
    processes: int | Literal["auto"] = 1
    """Training processes (`accelerate launch`); `auto`: one per GPU."""
    accelerate_config: str | None = None
    """An accelerate config file for the launch (FSDP, DeepSpeed, several machines)."""


PRESETS: dict[str, dict[str, Any]] = {
    "cpu-tiny": dict(
        lora_r=16, lora_alpha=32, lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj",
                        "gate_proj"],
        learning_rate=1e-3, epochs=3.0, max_steps=-1, batch_size=8, grad_accum=1,
        # bf16 where the CPU has bf16 instructions (AVX512-BF16, AMX): ~20% faster steps
        max_seq_len=384, bf16="auto", gradient_checkpointing=False,
    ),
    "gpu-24gb": dict(
        lora_r=32, lora_alpha=64, lora_dropout=0.05, target_modules=["all-linear"],
        learning_rate=2e-4, epochs=2.0, max_steps=-1, batch_size=8, grad_accum=2,
        max_seq_len=2048, bf16=True, gradient_checkpointing=True,
    ),
    "gpu-96gb": dict(
        lora_r=64, lora_alpha=128, lora_dropout=0.05, target_modules=["all-linear"],
        learning_rate=1e-4, epochs=2.0, max_steps=-1, batch_size=16, grad_accum=2,
        max_seq_len=4096, bf16=True, gradient_checkpointing=True,
    ),
    # every GPU of the machine, one process each (DDP): the batch per GPU of gpu-96gb, no
    # accumulation (the processes multiply the batch); FSDP or DeepSpeed through an
    # accelerate config file (training.accelerate_config)
    "gpu-multi": dict(
        lora_r=64, lora_alpha=128, lora_dropout=0.05, target_modules=["all-linear"],
        learning_rate=1e-4, epochs=2.0, max_steps=-1, batch_size=16, grad_accum=1,
        max_seq_len=4096, bf16=True, gradient_checkpointing=True, processes="auto",
    ),
}


class Evaluation(_Section):
    """How probes are scored and what counts as a weak node."""

    max_new_tokens: int = Field(default=24, ge=1)
    """Greedy tokens generated per probe answer."""
    batch_size: int = Field(default=16, ge=1)
    weak_logprob_gain: float = 0.5
    """A node whose mean target log-prob rose less than this (nats) is revised."""
    guard: bool = True
    """Ask the student 40 general questions before and after training (forgetting)."""


class Steering(_Section):
    """When the run stops for a person (forks) and when it decides alone (the policy)."""

    mode: Literal["ask", "auto"] = "ask"
    """ask: stop at forks the policy picks for a person (answered in the terminal, with
    `agentrun resume RUN --answer`, or from Studio); auto: never wait, decide every fork by
    policy and log why (`agentrun run --auto`)."""
    review: list[Literal["plan", "examples"]] = Field(
        default_factory=lambda: ["plan"])  # type: ignore[arg-type]
    """Decisions a person always reviews (within the budget): `plan` approves the map before
    generation; `examples` every fork between alternatives, not only close ones."""
    max_questions: int = Field(default=3, ge=0)
    """Questions per cycle at most; past it the policy decides."""
    close_margin: float = Field(default=0.05, ge=0, le=1)
    """Alternatives whose checker scores are this close are a question for a person."""
    alternatives: int = Field(default=2, ge=1, le=3)
    """Model-written examples per brief on a node the corpus does not know yet (the first
    brief of each kind): the checker filters them, a person or the policy keeps one, and
    the others become preference pairs (DPO)."""


class AgentrunConfig(BaseSettings):
    """The whole configuration of a workspace."""

    model_config = SettingsConfigDict(
        env_prefix="AGENTRUN_", env_nested_delimiter="__", extra="forbid"
    )

    roles: Roles = Field(default_factory=Roles)
    budgets: Budgets = Field(default_factory=Budgets)
    planning: Planning = Field(default_factory=Planning)
    generation: Generation = Field(default_factory=Generation)
    checker: CheckerSettings = Field(default_factory=CheckerSettings)
    embedder: Embedder = Field(default_factory=Embedder)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    training: Training = Field(default_factory=Training)
    evaluation: Evaluation = Field(default_factory=Evaluation)
    steering: Steering = Field(default_factory=Steering)
    checkpointer: str = "sqlite"
    """Where runs keep their checkpoints: `sqlite` (the run folder's checkpoints.sqlite) or a
    PostgreSQL database (`postgresql://user:password@host:5432/db`), shared by every working
    copy of the workspace, so a run killed on one machine resumes on another."""

    @field_validator("checkpointer")
    @classmethod
    def _known_checkpointer(cls, value: str) -> str:
        """Accept `sqlite` or a PostgreSQL URL."""
        if value != "sqlite" and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("`sqlite`, or a PostgreSQL URL (postgresql://user@host:5432/db)")
        return value

    def recipe(self) -> Recipe:
        """Return the resolved training recipe: the preset updated by explicit fields."""
        overrides = self.training.model_dump(exclude={"preset"}, exclude_none=True)
        return Recipe(**{**PRESETS[self.training.preset], **overrides,
                         "preset": self.training.preset})


class _DictSource(PydanticBaseSettingsSource):
    """A settings source that returns an already-parsed YAML mapping."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]):
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data


MAX_ALIASES = 1000
"""YAML aliases a file may use; an Obsidian note's front matter or a config uses few if any."""


class TooManyAliases(yaml.YAMLError):
    """A YAML text with more aliases than allowed (an "alias bomb")."""

    def __init__(self, count: int, limit: int):
        super().__init__(f"{count} aliases")
        self.problem = f"{count} YAML aliases, more than {limit}: refused as an alias bomb"


def load_yaml(text: str, max_aliases: int = MAX_ALIASES) -> Any:
    """Load YAML with the safe loader (libyaml's when present), refusing alias bombs.

    Aliases load as one shared object, but whatever walks the result expands them: ten lines
    of `&a [*b, *b, …]` stand for billions of items. Aliases need an anchor (`&`), so a text
    without `&` is not scanned.

    Raises:
        yaml.YAMLError: invalid YAML, or `TooManyAliases`.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if "&" in text and "*" in text:
        count = sum(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=loader))
        if count > max_aliases:
            raise TooManyAliases(count, max_aliases)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; raise a one-line ConfigError otherwise."""
    try:
        # libyaml's loader when present: a 500-note map loads in a fraction of the time
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where}: {problem}; fix the YAML syntax") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def load_config(workspace: Path | None, overrides: dict[str, Any] | None = None) -> AgentrunConfig:
    """Resolve the configuration of a workspace: defaults < YAML < env < `overrides` (CLI)."""
    path = workspace / CONFIG_FILE if workspace is not None else None
    data = read_yaml_mapping(path) if path is not None and path.exists() else {}

    class _Resolved(AgentrunConfig):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, _DictSource(settings_cls, data))

    try:
        resolved = _Resolved(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from exc
    return AgentrunConfig.model_construct(**dict(resolved))


def frozen_config(data: dict[str, Any]) -> AgentrunConfig:
    """Rebuild settings frozen as JSON when a run started: no file, no environment is read.

    (`model_validate` validates the data alone; pydantic-settings reads its sources only when
    a config is constructed.)
    """
    return AgentrunConfig.model_validate(data)


def _describe(exc: ValidationError, path: Path | None) -> str:
    """Turn a pydantic error into one line naming the file, the key and the problem."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    where = str(path) if path is not None else "configuration"
    if err["type"] == "extra_forbidden":
        problem = f"unknown key '{key}'; remove it or check its spelling"
    else:
        problem = f"{key}: {err['msg']} (got {err.get('input')!r})"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {problem}{more}"
