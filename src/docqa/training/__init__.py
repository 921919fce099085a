"""``docqa train``: fine-tuning an extractive reader on SQuAD files and the corrections made in the app.

Kept apart from the runtime classes: ``data`` gathers the examples, ``features`` turns them into the
reader's own windows (``docqa.reader.windows``), ``loop`` trains, ``measure`` scores held-out data as
``docqa eval`` does, ``card`` describes the result, ``run`` ties them together and ``cli`` holds
the subcommands. Torch and transformers load only when a run starts.
"""
