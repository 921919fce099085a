"""The chat app's styles and scripts.

The scripts keep the page's own work small: the conversation is appended to one turn at a time
(the server never sends it whole), and copying, exporting and switching tabs happen in the page.
Clicks that need the server (a source to open, a vote, an example question) go to it as events
of the conversation component, with what was clicked.
"""

from __future__ import annotations

from docqa.ui.render import TARGET_ID

PHONE = "(max-width: 720px)"  # the layout for phones: one column, sources below the chat on demand

CSS = """
.docqa-header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.3em 0.8em; }
.docqa-brand { font-size: 1.45em; font-weight: 700; }
.docqa-badge { font-size: 0.85em; padding: 0.1em 0.65em; border-radius: 999px; white-space: nowrap; }
.docqa-badge-lexical { background: #fef3c7; color: #92400e; }
.docqa-badge-exact { background: #dcfce7; color: #166534; }
.docqa-documents-link, .docqa-indexing { font-size: 0.9em; }
.docqa-howto { font-size: 0.85em; }
.docqa-howto summary { cursor: pointer; opacity: 0.8; }
.docqa-howto[open] { flex-basis: 100%; }
.docqa-howto ul { margin: 0.3em 0; }
#docqa-chat .docqa-log { position: relative; height: 56vh; min-height: 320px; overflow-y: auto; padding: 0.4em 0.6em;
  border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  background: var(--background-fill-primary); }
.docqa-question { display: flex; justify-content: flex-end; margin: 0.6em 0 0.3em; }
.docqa-bubble { background: var(--color-accent-soft); padding: 0.45em 0.85em; border-radius: 1em 1em 0.25em 1em;
  max-width: 85%; white-space: pre-wrap; overflow-wrap: anywhere; }
.docqa-reply { padding: 0.55em 0.85em; margin: 0.3em 0 0.9em; max-width: 95%; border-radius: 0.25em 1em 1em 1em;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);
  overflow-wrap: anywhere; }
.docqa-lead { font-weight: 600; font-size: 1.05em; line-height: 1.45; }
.docqa-items { margin: 0; padding-left: 1.2em; }
.docqa-cite { text-decoration: none; cursor: pointer; }
.docqa-citations .docqa-cite, .docqa-closest .docqa-cite { padding: 0; }  /* aligned with the line under it */
sup .docqa-cite { display: inline-block; min-width: 1.5em; margin-left: 0.25em; padding: 0 0.3em; border-radius: 999px;
  text-align: center; font-size: 0.85em; line-height: 1.4; font-weight: 700; background: var(--color-accent-soft); }
.docqa-controls button svg { vertical-align: -2px; }
#docqa-source-choice label { padding: 0.25em 0.6em; font-size: 0.9em; }
#docqa-replace-question { padding: 0.5em 0.8em; }
.docqa-meta { font-size: 0.85em; opacity: 0.85; margin: 0.15em 0 0.35em; }
.docqa-confidence-high { color: #15803d; }
.docqa-confidence-medium { color: #b45309; }
.docqa-confidence-low { color: #b91c1c; }
.docqa-reply ol { margin: 0.2em 0; padding-left: 1.3em; }
.docqa-reply ol.docqa-citations { list-style: none; padding-left: 0; }
.docqa-quote { border-left: 3px solid var(--border-color-primary); padding-left: 0.6em; margin: 0.15em 0 0.45em;
  font-size: 0.95em; line-height: 1.45; }
.docqa-place, .docqa-doc-source { font-size: 0.85em; opacity: 0.72; font-weight: 400; overflow-wrap: anywhere; }
.docqa-doc-key { font-size: 0.85em; font-weight: 400; margin-top: 0.2em; }
.docqa-notes { font-size: 0.85em; opacity: 0.8; }
.docqa-notes.docqa-conflicts { opacity: 1; border-left: 3px solid #d97706; padding-left: 0.5em; margin: 0.35em 0;
  overflow-wrap: anywhere; }
.docqa-conflicts ul { margin: 0.2em 0 0; padding-left: 1.1em; }
.docqa-controls { display: flex; gap: 0.4em; margin-top: 0.35em; }
.docqa-controls button { border: 1px solid var(--border-color-primary); border-radius: var(--radius-md);
  padding: 0.05em 0.6em; background: var(--background-fill-primary); cursor: pointer; font-size: 0.85em; }
.docqa-vote[aria-pressed="true"] { background: var(--color-accent-soft); border-color: var(--color-accent); }
.docqa-welcome { padding: 0.6em 0.4em; }
.docqa-examples { display: flex; flex-wrap: wrap; gap: 0.45em; align-items: center; }
.docqa-example { border: 1px solid var(--border-color-primary); border-radius: 999px; padding: 0.3em 0.85em;
  background: var(--background-fill-secondary); cursor: pointer; text-align: left; }
.docqa-doc { position: relative; max-height: 460px; overflow-y: auto; white-space: pre-wrap;
  line-height: 1.55; padding: 0.75em 1em; border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-lg); background: var(--background-fill-secondary); }
.docqa-doc-head { font-weight: 600; margin-bottom: 0.4em; }
.docqa-passage { border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  padding: 0.5em 0.75em; margin-bottom: 0.6em; }
.docqa-passage-text { white-space: pre-wrap; font-size: 0.92em; line-height: 1.45; }
.docqa-rank { display: inline-block; min-width: 1.5em; text-align: center; border-radius: 999px;
  background: var(--color-accent-soft); font-weight: 600; }
.docqa-empty, .docqa-cut { opacity: 0.7; font-style: italic; }
mark { background: #fde68a; color: inherit; padding: 0 0.1em; border-radius: 3px; }
/* A passage read (not an answer) is underlined in green, a selection is solid blue: neither looks like the other. */
mark.docqa-passage-span { background: #f0fdf4; text-decoration: underline dashed #15803d;
  text-decoration-thickness: 1px; text-underline-offset: 3px; border-radius: 0; }
.docqa-doc ::selection { background: #1d4ed8; color: #fff; }
.docqa-table { width: 100%; border-collapse: collapse; font-size: 0.92em; }
.docqa-table, .docqa-table tr { border: 0; }
.docqa-table th, .docqa-table td { text-align: left; vertical-align: top; padding: 0.45em 0.6em; border: 0;
  border-bottom: 1px solid var(--border-color-primary); }
.docqa-table th { font-weight: 600; }
.docqa-table caption { text-align: left; font-weight: 600; padding: 0.2em 0 0.4em; }
.docqa-date-cell, .docqa-count-cell { white-space: nowrap; }
.docqa-file-cell { overflow-wrap: anywhere; opacity: 0.8; }
.docqa-unit { display: none; }
/* The page has one "Settings": the chat's; Gradio's own settings stay out of its footer. */
footer .settings, footer .divider:has(+ .divider + .settings) { display: none !important; }
@media (max-width: 720px) {
  #docqa-documents .docqa-table, #docqa-documents .docqa-table tbody { display: block; width: 100%; border: 0; }
  #docqa-documents .docqa-table thead { display: none; }
  #docqa-documents .docqa-table caption { display: block; }
  #docqa-documents .docqa-table tr { display: block; padding: 0.5em 0; border: 0;
    border-bottom: 1px solid var(--border-color-primary); }
  #docqa-documents .docqa-table td { display: inline; padding: 0; border: 0; overflow-wrap: anywhere; }
  #docqa-documents .docqa-table td.docqa-title-cell { display: block; font-weight: 600; margin-bottom: 0.15em; }
  .docqa-date-cell:not(:empty) + .docqa-count-cell::before { content: " \\00b7\\00a0"; }
  #docqa-documents .docqa-table td.docqa-file-cell { display: block; }  /* the file on a line of its own */
  .docqa-date-cell, .docqa-count-cell { white-space: nowrap !important; }
  .docqa-unit { display: inline; }
  .docqa-brand { font-size: 1.2em; }
  /* One natural scroll: the conversation grows with the page instead of scrolling inside it. */
  #docqa-chat .docqa-log { height: auto; min-height: 6em; overflow: visible; }
  .docqa-reply { max-width: 100%; }
  .docqa-doc { max-height: 60vh; }
}
"""

# The conversation: a container that the script fills one update at a time. ``props.value`` is the
# latest update, {n, html, reset}; its number tells a new one from one already shown.
LOG_TEMPLATE = '<div class="docqa-log" role="log" aria-label="Conversation"></div>'

CHAT_JS = r"""
const log = element.querySelector('.docqa-log');
let shown = null;
const show = () => {
  const update = props.value;
  if (!log || !update || typeof update !== 'object' || update.n === shown) return;
  shown = update.n;
  if (update.reset) log.replaceChildren();
  if (!update.html) return;
  log.querySelectorAll('.docqa-welcome').forEach((node) => node.remove());
  log.insertAdjacentHTML('beforeend', update.html);
  const last = log.lastElementChild;
  // A reply is scrolled to its question, which stays in view above a long answer.
  const question = last && last.classList.contains('docqa-reply')
    ? log.querySelector(`.docqa-question[data-turn="${last.dataset.turn}"]`) : null;
  const anchor = update.reset ? null : question || last;
  if (getComputedStyle(log).overflowY !== 'visible') log.scrollTop = anchor ? Math.max(0, anchor.offsetTop - 6) : 0;
  else if (anchor) anchor.scrollIntoView({block: question ? 'start' : 'nearest'});  // a phone: the page scrolls
};
const copy = async (button) => {
  const text = button.dataset.copy || '';
  let copied = false;
  try {
    if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); copied = true; }
  } catch (error) { copied = false; }
  if (!copied) {  // a page served over plain http to another machine has no clipboard API
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    try { copied = document.execCommand('copy'); } catch (error) { copied = false; }
    area.remove();
  }
  button.textContent = copied ? 'Copied' : 'Copy failed';
  setTimeout(() => { button.textContent = 'Copy'; }, 2000);
};
// On a phone the sources are below the chat: once the opened source shows, bring it into sight.
const revealDocument = (tries = 30) => {
  const view = document.getElementById('docqa-document');
  if (view && view.offsetParent !== null && view.querySelector('#TARGET')) view.scrollIntoView({block: 'start'});
  else if (tries > 0) setTimeout(() => revealDocument(tries - 1), 100);
};
element.addEventListener('click', (event) => {
  const control = event.target.closest('[data-action]');
  if (!control || !element.contains(control)) return;
  event.preventDefault();
  const action = control.dataset.action;
  const turn = Number(control.dataset.turn);
  if (action === 'copy') { copy(control); return; }
  if (action === 'documents') { document.getElementById('docqa-documents-tab-button')?.click(); return; }
  if (action === 'ask') { trigger('submit', {question: control.dataset.question || ''}); return; }
  if (action === 'vote') {
    control.parentElement.querySelectorAll('.docqa-vote')
      .forEach((button) => button.setAttribute('aria-pressed', String(button === control)));
  }
  if (action === 'cite' && window.matchMedia('PHONE_QUERY').matches) revealDocument();
  trigger('select', {action, turn, index: Number(control.dataset.index), value: control.dataset.value || ''});
});
show();
watch('value', show);
""".replace("PHONE_QUERY", PHONE).replace("#TARGET", f"#{TARGET_ID}")

HEADER_JS = r"""
element.addEventListener('click', (event) => {
  if (!event.target.closest('[data-action="documents"]')) return;
  event.preventDefault();
  document.getElementById('docqa-documents-tab-button')?.click();
});
"""

# Keeps the highlighted span of the document view in sight whenever the view changes, and when it
# shows: a view that arrived hidden (on a phone the Sources panel is folded until a source is
# picked) has no height to scroll by until then.
DOCUMENT_JS = f"""
const reveal = () => {{
  const box = element.querySelector('.docqa-doc');
  const target = element.querySelector('#{TARGET_ID}');
  if (box && target && box.clientHeight) box.scrollTop = Math.max(0, target.offsetTop - box.clientHeight / 3);
}};
let hidden = !element.clientHeight;
new ResizeObserver(() => {{
  if (hidden && element.clientHeight) reveal();
  hidden = !element.clientHeight;
}}).observe(element);
reveal();
watch('value', reveal);
"""

# On a phone the sources start folded, below the chat.
PHONE_JS = f"""
() => {{
  if (!window.matchMedia('{PHONE}').matches) return;
  const toggle = document.querySelector('#docqa-sources > .label-wrap');
  if (toggle && toggle.classList.contains('open')) toggle.click();
}}
"""

# The conversation as Markdown, from the replies the page holds, saved as a file.
EXPORT_JS = r"""
() => {
  const replies = [...document.querySelectorAll('#docqa-chat .docqa-reply[data-markdown]')];
  if (!replies.length) return;
  const day = new Date().toISOString().slice(0, 10);
  const turns = replies.map((reply) => reply.dataset.markdown).join('\n\n');
  const text = `# Conversation with docqa, ${day}\n\n${turns}\n`;
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([text], {type: 'text/markdown;charset=utf-8'}));
  link.download = `docqa-conversation-${day}.md`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
"""

# Asks before deleting; a cancelled deletion sends "" (nothing chosen sends null).
CONFIRM_DELETE_JS = "(source) => !source ? null : confirm(`Delete ${source} from the corpus?`) ? source : ''"
