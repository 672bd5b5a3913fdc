"""English chat filler: what an assistant says to the reader that states no fact.

Openings are matched at a sentence's start, case-blind, after any emoji or bullet; a
pleasantry is matched as the whole sentence (its closing punctuation aside).
"""

from __future__ import annotations

OFFERS = ("want me to", "do you want me to", "would you like me to", "would you like",
          "if you want", "if you'd like", "if you would like", "if you like", "if you wish",
          "if needed, i can", "i can also", "i could also", "i can help", "i can be your",
          "i'd be happy to", "i would be happy to", "happy to help", "shall i", "should i",
          "let me know", "let's", "let us", "feel free to", "just say the word",
          "tell me if", "tell me which", "tell me what", "say the word")
"""The assistant's offers and questions to the reader ("Want me to draft the spec?")."""

FIRST_PERSON = {"i", "me", "i'd", "i'll", "i'm"}
"""Words by which an offer outside a chat's turns says who offers ("If you want, I can …")."""

PLEASANTRIES = ("hope this helps", "i hope this helps", "hope that helps",
                "i hope that helps", "great question", "good question", "excellent question",
                "you're right", "you are right", "you're absolutely right",
                "you are absolutely right", "yes, you're right", "yes, you are right",
                "exactly", "absolutely", "of course", "sure", "certainly", "glad to help",
                "good luck", "you're welcome", "no problem",
                "you're doing everything right")
"""Chat pleasantries, each a sentence of its own ("Hope this helps!")."""
