"""Dataset export to TRL formats, the SFT entry point, and probe scoring."""
