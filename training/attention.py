"""Attention over padding-free rows without flash attention: one causal SDPA call per example.

A padding-free batch is one row of its examples end to end, with position ids restarting at
each example. Flash attention's variable-length kernels read those boundaries; without them
(a CPU, a GPU without the flash-attn package) transformers gives SDPA a block-diagonal mask
over the whole row, and the kernels compute every block, masked or not: attention cost grows
with the square of the row (all the batch's tokens), not of each example. On the embedded
student with a batch of 8 chat examples that made attention 39% of a step.

`segments` computes each example's attention on its own slice of the row (causal, no mask), so
the cost is the sum of the examples' squares, as in a padded batch, while the projections and
the MLP still see no pad tokens. Any other batch (padded, or with a cache) goes to the usual
SDPA path unchanged.
"""

from __future__ import annotations

from typing import Any

NAME = "segments"


def segment_sdpa(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                 dropout: float = 0.0, scaling: float | None = None,
                 position_ids: Any = None, **kwargs: Any) -> tuple[Any, None]:
    """Attention per example of a packed row; the usual SDPA for any other batch.

    query, key, value: (batch, heads, length, head_dim); returns (batch, length, heads,
    head_dim) as transformers' attention functions do.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    length = query.shape[2]
    if (attention_mask is not None or position_ids is None or query.shape[0] != 1
            or key.shape[2] != length or length < 2):
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling, **kwargs)
    starts = (position_ids[0] == 0).nonzero().flatten().tolist()
    if starts[:1] != [0]:
        starts = [0, *starts]
    bounds = [*starts, length]
    if len(starts) == 1:  # one example: plain causal attention
        return sdpa_attention_forward(module, query, key, value, None, dropout=dropout,
                                      scaling=scaling, **kwargs)
    parts = [sdpa_attention_forward(module, query[:, :, a:b], key[:, :, a:b], value[:, :, a:b],
                                    None, dropout=dropout, scaling=scaling, **kwargs)[0]
             for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    return torch.cat(parts, dim=1), None


def segment_mask(*, attention_mask: Any = None, **kwargs: Any) -> Any:
    """Return no mask for a row without padding, SDPA's mask where there is padding to hide.

    Without a mask, `segment_sdpa` reads the examples' bounds from the position ids.
    """
    from transformers.masking_utils import sdpa_mask

    if attention_mask is None:
        return None
    return sdpa_mask(attention_mask=attention_mask, **kwargs)


def register() -> str:
    """Make `segments` a transformers attention implementation; return its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, segment_sdpa)
    AttentionMaskInterface.register(NAME, segment_mask)
    return NAME
