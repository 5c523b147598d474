"""Analysis: stored results as frames, filters, aggregates, comparisons, charts, exports.

Rule: reads runs through the engine's store and imports the shared vocabulary;
never makes HTTP requests, never imports the CLI, the simulator or streamlit.
Everything here is pure given its inputs, so pages and commands agree.
"""
