"""Errors that carry a message meant for the user (the CLI prints them on one line)."""


class DocqaError(Exception):
    """A problem the user can fix: bad input, a missing folder, an unreadable index."""


class ModelLoadError(DocqaError):
    """A model could not be loaded; the message names the model, the reason and the fix."""

    def __init__(self, kind: str, name: str, reason: str) -> None:
        self.kind = kind
        self.name = name
        self.reason = reason
        super().__init__(
            f"could not load the {kind} model {name!r} ({reason}). Fix: pass a local model "
            f"folder (--{kind}-model PATH or DOCQA_{kind.upper()}_MODEL=PATH), or download it once "
            "with network access so that the Hugging Face cache has it (HF_HUB_OFFLINE=1 then "
            f"uses the cache), or pass 'none' to choose the lexical mode on purpose."
        )


class IndexLoadError(DocqaError):
    """The index folder is damaged, locked, or was built in a format this version cannot read."""
