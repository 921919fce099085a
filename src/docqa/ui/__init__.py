"""The chat app: a Gradio interface over an :class:`~docqa.assistant.Assistant`.

- :mod:`docqa.ui.render`: the Markdown and HTML the app shows, escaped (no Gradio);
- :mod:`docqa.ui.actions`: :class:`Actions`, what the buttons and the ``/ask`` API do;
- :mod:`docqa.ui.app`: the page's layout and wiring, :func:`build_app`;
- :mod:`docqa.ui.serve`: where the app listens, its login, and ``serve(assistant, host=..., port=..., auth=...)``.

``build_app`` and ``Actions`` are loaded on first use, so that importing a part that does not need
Gradio does not load it. The serving function is reached through its module, ``docqa.ui.serve.serve``:
a lazy ``docqa.ui.serve`` attribute would be replaced by the module of that name once it is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from docqa.lazy import lazy_exports

if TYPE_CHECKING:
    from docqa.ui.actions import Actions
    from docqa.ui.app import build_app

_EXPORTS = {"Actions": "docqa.ui.actions", "build_app": "docqa.ui.app"}

__all__ = ["Actions", "build_app"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
